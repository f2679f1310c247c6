// LunarLander-v2 (discrete actions, no wind) in C++ on Box2D 2.3.2, and a pool that steps
// [members x envs] of them on OpenMP threads.
//
// The environment is a line-by-line port of gymnasium's box2d/lunar_lander.py (the same Box2D
// library, the same double-precision arithmetic between Box2D's float calls, the same order of
// random draws), so from the same random numbers it steps bit for bit like gymnasium's
// LunarLander-v3 with enable_wind=False — which is the paper's LunarLander-v2: the versions differ
// in the declared observation bounds, a world that gym did not fully destroy between episodes (v3's
// determinism fix, which a fresh b2World per episode has by construction) and the wind options
// added in gym 0.24 (off by default, absent in the paper). Rendering and its flame particles
// (created only when rendering in gymnasium 1.x) are left out: they never touch the lander.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "../common/splitmix.h"

class b2World;
class b2Body;

namespace lf::box2d {

constexpr int kObsDim = 8;
constexpr int kActions = 4;  // 0 noop, 1 left engine, 2 main engine, 3 right engine

class LunarLander {
 public:
  LunarLander();
  ~LunarLander();
  LunarLander(const LunarLander&) = delete;
  LunarLander& operator=(const LunarLander&) = delete;

  // A new episode (terrain, initial push, then one no-op step as gymnasium's reset does); writes
  // the first observation to obs[kObsDim]. Draws 12 + 2 + 2 numbers from rng.
  void reset(SplitMix64& rng, float* obs);

  // One step with action in [0, kActions); writes obs, returns the reward and sets *terminated.
  // Draws 2 numbers from rng (the engines' dispersion, drawn whatever the action).
  double step(int action, SplitMix64& rng, float* obs, bool* terminated);

  struct Contacts;

 private:
  std::unique_ptr<b2World> world_;
  std::unique_ptr<Contacts> contacts_;
  b2Body* lander_ = nullptr;
  b2Body* legs_[2] = {nullptr, nullptr};
  double helipad_y_ = 0.0;
  double prev_shaping_ = 0.0;
  bool has_prev_shaping_ = false;
};

// What a pool step writes, all [members * envs] (row-major: member, then env).
struct PoolOutputs {
  float* obs;             // [n, kObsDim]: after a reset where an episode ended, its first observation
  double* reward;         // the step's reward
  uint8_t* terminated;    // the lander landed, crashed or left the screen
  uint8_t* truncated;     // the time limit (max_steps) ended the episode
  double* episode_return;  // the ended episode's return where terminated or truncated, else 0
};

// [members x envs] environments, stepped in chunks of 4 handed to whichever thread is free (a
// preempted thread does not hold the others up). Environment e of member m draws from
// SplitMix64{mix(seeds[m], e)}: a member's episodes depend on its seed only, never on the other
// members or on the number of threads.
class LunarLanderPool {
 public:
  LunarLanderPool(const std::vector<uint64_t>& seeds, int envs, int max_steps, int threads);
  ~LunarLanderPool();

  int size() const { return static_cast<int>(envs_.size()); }
  void reset(float* obs);
  // actions[n] in [0, kActions) (checked before anything moves: std::invalid_argument naming it).
  void step(const int64_t* actions, const PoolOutputs& out);

 private:
  std::vector<std::unique_ptr<LunarLander>> envs_;
  std::vector<SplitMix64> rngs_;
  std::vector<int> steps_;
  std::vector<double> returns_;
  int max_steps_;
  int threads_;
};

}  // namespace lf::box2d
