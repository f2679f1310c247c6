// A batched pool of Atari (ALE) environments stepped by C++ worker threads, with the
// preprocessing of the usual Atari pipeline done in C++ and observations written straight into
// caller-owned buffers (a torch uint8 tensor on the Python side). Torch-free.
//
// Per agent step (action a, frameskip k): a is applied for up to k emulator frames, rewards are
// summed; the grayscale screens after the last two executed frames are max-pooled (only the last
// one if the game ended before the second-to-last frame); the result is resized to H x W with area
// interpolation (OpenCV INTER_AREA) and pushed onto a stack of S frames. On reset: reset_game(),
// then 1..noop_max single-frame NOOPs (uniform, per-environment generator), optionally one FIRE
// agent step; the stack is filled with the first frame. A finished game (or max_episode_steps
// agent steps) resets within the same step: the observation returned is the new game's first.
// With episodic_life, losing a life reports terminated without resetting the game.
// Every environment has its own seeds, so results do not depend on the number of threads.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../common/splitmix.h"

namespace lf::atari {

// Seeds: environment i of a pool seeded s runs ALE with random_seed = mix(s, i) & 0x7fffffff and
// draws its no-op counts (1 + next() % noop_max) from SplitMix64{mix(s ^ kNoopStream, i)}.
using lf::SplitMix64;
using lf::mix;
constexpr uint64_t kNoopStream = 0x5bd1e995ull;

struct Preprocessing {
  int frameskip = 4;
  bool max_pool = true;
  int height = 105;
  int width = 80;
  int stack = 4;
  int noop_max = 30;
  bool episodic_life = false;
  bool fire_reset = false;
  bool clip_rewards = false;
  float repeat_action_probability = 0.0f;
  int max_episode_steps = 27000;
  bool full_action_space = false;
};

// Caller-owned outputs, indexed by environment id.
struct Outputs {
  uint8_t* obs;             // [N, stack, H, W]
  float* reward;            // [N] reward of the last step (clipped if clip_rewards)
  uint8_t* terminated;      // [N] game over (or life lost with episodic_life)
  uint8_t* truncated;       // [N] max_episode_steps reached
  float* episode_return;    // [N] unclipped score of the game that just ended, else 0
  int32_t* episode_length;  // [N] agent steps of the game that just ended, else 0
  int32_t* lives;           // [N]
};

class AtariPool {
 public:
  AtariPool(const std::string& rom_path, int num_envs, int num_threads, int batch_size, uint64_t seed,
            const Preprocessing& pp, const Outputs& out);
  ~AtariPool();
  AtariPool(const AtariPool&) = delete;
  AtariPool& operator=(const AtariPool&) = delete;

  int num_envs() const { return static_cast<int>(envs_.size()); }
  int num_actions() const;
  int num_threads() const { return static_cast<int>(workers_.size()); }

  // Reseeds and resets every environment (blocking).
  void reset(uint64_t seed);
  // Steps every environment with actions[i] (blocking).
  void step(const int32_t* actions);
  // Asynchronous mode: queue steps for some environments ...
  void send(const int32_t* actions, const int32_t* env_ids, int count);
  // ... and wait until batch_size of the queued ones are done; writes their ids, returns the count.
  int recv(int32_t* env_ids);
  int pending() const;

 private:
  struct Env;
  void worker_loop();
  void run(int id);
  void reset_env(Env& e, int id);
  void for_each_env(int threads, const std::function<void(int)>& fn);
  void write_frame(Env& e, int id, bool fill_stack);
  void resize_general(const Env& e, const uint8_t* src, uint8_t* dst) const;
  void enqueue(const int32_t* ids, const int32_t* actions, int count);

  std::string rom_;
  Preprocessing pp_;
  Outputs out_;
  int batch_size_;
  std::vector<std::unique_ptr<Env>> envs_;
  std::vector<std::thread> workers_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<int> work_;   // env ids to step (a shared queue balances the load between workers)
  std::deque<int> done_;   // env ids stepped, not yet received
  int in_flight_ = 0;      // queued or running
  int wait_for_ = 1;       // completions the waiting caller needs before it is woken
  bool stop_ = false;
  std::string error_;      // first exception of a worker, re-thrown by step/recv
  std::vector<int32_t> step_ids_, step_actions_;  // step()'s queue order and its actions
};

}  // namespace lf::atari
