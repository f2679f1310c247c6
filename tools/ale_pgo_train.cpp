// Training run for the profile-guided build of ALE (tools/build_ale.sh): plays each ROM given on
// the command line with seeded random actions and does what the actor pool does per frame
// (act, game_over, grayscale screens, resets), so the compiler sees the emulator's hot paths.
//   ale_pgo_train FRAMES ROM...
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "ale/ale_interface.hpp"
#include "ale/common/Log.hpp"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s FRAMES ROM...\n", argv[0]);
    return 2;
  }
  ale::Logger::setMode(ale::Logger::Error);
  const int frames = std::atoi(argv[1]);
  std::vector<unsigned char> screen(210 * 160);
  for (int r = 2; r < argc; ++r) {
    ale::ALEInterface ale;
    ale.setInt("random_seed", r);
    ale.setFloat("repeat_action_probability", 0.0f);
    ale.setInt("frame_skip", 1);
    ale.loadROM(argv[r]);
    const auto actions = ale.getMinimalActionSet();
    std::mt19937 rng(r);
    for (int i = 0; i < frames; ++i) {
      ale.act(actions[rng() % actions.size()]);
      if (i % 4 >= 2) ale.getScreenGrayscale(screen);
      if (ale.game_over()) ale.reset_game();
    }
  }
  return 0;
}
