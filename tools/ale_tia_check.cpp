// Frame-by-frame check of tools/patch_ale.py: each ROM is played twice in lockstep with the same
// seeds and random actions, one emulator drawing with ALE's own pixel loop, the other with the
// patched AVX-512 spans; after every frame the whole screen, the RAM, the reward, the lives and
// the terminal flag must be equal. Exit status 1 if a ROM differs (the first difference is printed).
//   ale_tia_check FRAMES ROM...
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>

#include <sys/wait.h>
#include <unistd.h>

#include "ale/ale_interface.hpp"
#include "ale/common/Log.hpp"
#include "ale/emucore/TIA.hxx"

namespace {

constexpr int kDiffers = 3;
constexpr int kUnsupported = 1;  // ALEInterface::loadROM calls std::exit(1) for an unknown ROM

void configure(ale::ALEInterface& ale, const char* rom) {
  ale.setInt("random_seed", 7);
  ale.setFloat("repeat_action_probability", 0.0f);
  ale.setInt("frame_skip", 1);
  ale.loadROM(rom);
}

// Plays `frames` frames of `rom`; returns the number of frames before the first difference
// (== frames when there is none).
int check(const char* rom, int frames) {
  ale::ALEInterface scalar, simd;
  ale::stella::lf_tia_simd = false;
  configure(scalar, rom);
  ale::stella::lf_tia_simd = true;
  configure(simd, rom);
  const auto actions = scalar.getLegalActionSet();
  std::mt19937 rng(11);
  for (int frame = 0; frame < frames; ++frame) {
    const auto action = actions[rng() % actions.size()];
    ale::stella::lf_tia_simd = false;
    const auto reward_scalar = scalar.act(action);
    ale::stella::lf_tia_simd = true;
    const auto reward_simd = simd.act(action);
    const auto& a = scalar.getScreen();
    const auto& b = simd.getScreen();
    const char* what = nullptr;
    if (std::memcmp(a.getArray(), b.getArray(), a.arraySize()) != 0) what = "screen";
    else if (std::memcmp(scalar.getRAM().array(), simd.getRAM().array(), scalar.getRAM().size()) != 0) what = "RAM";
    else if (reward_scalar != reward_simd) what = "reward";
    else if (scalar.lives() != simd.lives()) what = "lives";
    else if (scalar.game_over() != simd.game_over()) what = "terminal flag";
    if (what != nullptr) {
      std::printf("%s: %s differs at frame %d\n", rom, what, frame);
      return frame;
    }
    if (scalar.game_over()) {
      ale::stella::lf_tia_simd = false;
      scalar.reset_game();
      ale::stella::lf_tia_simd = true;
      simd.reset_game();
    }
  }
  return frames;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s FRAMES ROM...\n", argv[0]);
    return 2;
  }
  if (!ale::stella::lf_tia_simd) {
    std::printf("ale_tia_check: this CPU has no AVX-512 VBMI (or LOTTERYFAST_ALE_SCALAR_TIA is set): nothing to compare\n");
    return 0;
  }
  ale::Logger::setMode(ale::Logger::Error);
  const int frames = std::atoi(argv[1]);
  if (frames < 1) {
    std::fprintf(stderr, "ale_tia_check: FRAMES must be a positive number, got '%s'\n", argv[1]);
    return 2;
  }
  // Each ROM in its own process: ALE exits the process on a ROM it does not support.
  int failed = 0, skipped = 0;
  for (int i = 2; i < argc; ++i) {
    std::fflush(stdout);
    const pid_t child = fork();
    if (child == 0) {
      const bool same = check(argv[i], frames) == frames;
      std::fflush(stdout);
      std::_Exit(same ? 0 : kDiffers);
    }
    int status = 0;
    waitpid(child, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) continue;
    if (WIFEXITED(status) && WEXITSTATUS(status) == kUnsupported) {  // ALE's exit on a ROM it does not know
      std::printf("%s: skipped (ALE does not run it)\n", argv[i]);
      ++skipped;
    } else {
      if (WIFSIGNALED(status)) std::printf("%s: crashed (signal %d)\n", argv[i], WTERMSIG(status));
      ++failed;
    }
  }
  std::printf("ale_tia_check: %d of %d ROMs identical over %d frames each (%d not supported by ALE)\n",
              argc - 2 - failed - skipped, argc - 2 - skipped, frames, skipped);
  return failed ? 1 : 0;
}
