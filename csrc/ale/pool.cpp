#include "pool.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

#include "ale/ale_interface.hpp"
#include "ale/common/Log.hpp"
#include "frames.h"

namespace lf::atari {
namespace {

using frames::kScreenH;
using frames::kScreenSize;
using frames::kScreenW;

struct Tap {
  int index;
  double weight;
};

// Area interpolation (OpenCV INTER_AREA for shrinking): output pixel o averages the input
// interval [o * s, (o + 1) * s), s = in / out, weighting partially covered pixels by coverage.
std::vector<std::vector<Tap>> area_taps(int in, int out) {
  if (out < 1 || out > in) throw std::invalid_argument("resize target must be between 1 and the screen size");
  const double scale = static_cast<double>(in) / out;
  std::vector<std::vector<Tap>> taps(out);
  for (int o = 0; o < out; ++o) {
    const double a = o * scale, b = (o + 1) * scale;
    for (int i = static_cast<int>(std::floor(a)); i < std::min(in, static_cast<int>(std::ceil(b))); ++i) {
      const double w = std::min(b, i + 1.0) - std::max(a, static_cast<double>(i));
      if (w > 1e-12) taps[o].push_back({i, w / scale});
    }
  }
  return taps;
}

}  // namespace

struct AtariPool::Env {
  ale::ALEInterface ale;
  std::vector<ale::Action> actions;
  SplitMix64 rng;
  frames::GrayLut lut{};                // palette index -> gray, ALE's own conversion
  std::vector<uint8_t> prev, last;     // the last two captured screens (palette indices)
  std::vector<uint8_t> gray;           // the gray frame, for target sizes other than 105 x 80
  bool pool_two = false;  // the frame is max(prev, last), else last
  std::vector<std::vector<Tap>> row_taps, col_taps;
  int32_t action = 0;
  double score = 0.0;
  int steps = 0;
  int lives = 0;
};

namespace {

// ALE's grayscale of every palette index, taken through ALE's own conversion so it matches
// getScreenGrayscale exactly. The TIA only emits even indices (colour registers drop bit 0);
// an odd index maps like its even neighbour.
frames::GrayLut gray_table(ale::ALEInterface& ale) {
  std::vector<uint8_t> even(128), gray;
  for (int i = 0; i < 128; ++i) even[i] = static_cast<uint8_t>(2 * i);
  ale.theOSystem->colourPalette().applyPaletteGrayscale(gray, even.data(), even.size());
  frames::GrayLut lut;
  for (int v = 0; v < 256; ++v) lut[v] = gray[v >> 1];
  return lut;
}

// Copies the current screen (palette indices) into `dst`: 33.6 kB, cheaper than ALE's scalar
// grayscale conversion, which write_frame fuses into its single pass instead.
void capture(const ale::ALEInterface& ale, std::vector<uint8_t>& dst) {
  const uint8_t* screen = ale.getScreen().getArray();
  std::copy(screen, screen + kScreenSize, dst.data());
}

}  // namespace

// Runs fn(i) for every environment on `threads` threads (thread t takes i = t, t + threads, ...):
// loading a ROM costs ~0.1 s (ALE precomputes its colour-averaging palette), so building and
// reseeding many environments is worth spreading. The first error is rethrown.
void AtariPool::for_each_env(int threads, const std::function<void(int)>& fn) {
  const int n = num_envs(), workers = std::max(1, std::min(threads, n));
  std::vector<std::string> errors(workers);
  auto part = [&](int t) {
    try {
      for (int i = t; i < n; i += workers) fn(i);
    } catch (const std::exception& ex) {
      errors[t] = ex.what();
    }
  };
  std::vector<std::thread> helpers;
  for (int t = 1; t < workers; ++t) helpers.emplace_back(part, t);
  part(0);
  for (auto& h : helpers) h.join();
  for (const std::string& error : errors)
    if (!error.empty()) throw std::runtime_error(error);
}

AtariPool::AtariPool(const std::string& rom_path, int num_envs, int num_threads, int batch_size, uint64_t seed,
                     const Preprocessing& pp, const Outputs& out)
    : rom_(rom_path), pp_(pp), out_(out), batch_size_(batch_size) {
  if (num_envs < 1) throw std::invalid_argument("num_envs must be >= 1");
  if (batch_size < 1 || batch_size > num_envs) throw std::invalid_argument("batch_size must be in [1, num_envs]");
  if (pp.frameskip < 1 || pp.stack < 1 || pp.noop_max < 0) throw std::invalid_argument("bad preprocessing settings");
  if (num_threads < 0) throw std::invalid_argument("num_threads must be >= 0 (0 = one per core)");
  ale::Logger::setMode(ale::Logger::Error);
  const auto rows = area_taps(kScreenH, pp.height), cols = area_taps(kScreenW, pp.width);
  const int threads = num_threads > 0 ? num_threads : std::max(1u, std::thread::hardware_concurrency());
  envs_.resize(num_envs);
  for_each_env(std::min(threads, num_envs), [&](int i) {
    auto e = std::make_unique<Env>();
    e->ale.setFloat("repeat_action_probability", pp.repeat_action_probability);
    e->ale.setInt("frame_skip", 1);
    e->ale.setInt("random_seed", static_cast<int>(mix(seed, i) & 0x7fffffff));
    e->ale.loadROM(rom_path);
    e->rng.state = mix(seed ^ kNoopStream, i);
    e->actions = pp.full_action_space ? e->ale.getLegalActionSet() : e->ale.getMinimalActionSet();
    e->lut = gray_table(e->ale);
    e->prev.resize(kScreenSize);
    e->last.resize(kScreenSize);
    e->gray.resize(kScreenSize);
    e->row_taps = rows;
    e->col_taps = cols;
    envs_[i] = std::move(e);
  });
  for (int t = 0; t < std::min(threads, num_envs); ++t) workers_.emplace_back([this] { worker_loop(); });
}

AtariPool::~AtariPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& w : workers_) w.join();
}

int AtariPool::num_actions() const { return static_cast<int>(envs_[0]->actions.size()); }

void AtariPool::worker_loop() {
  for (;;) {
    int id;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [this] { return stop_ || !work_.empty(); });
      if (stop_) return;
      id = work_.front();
      work_.pop_front();
    }
    try {
      run(id);
    } catch (const std::exception& ex) {
      std::lock_guard<std::mutex> lock(mu_);
      if (error_.empty()) error_ = ex.what();
    }
    bool wake;
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_.push_back(id);
      wake = static_cast<int>(done_.size()) >= wait_for_;
    }
    if (wake) done_cv_.notify_all();  // only when the waiter can proceed: no wake-up storm
  }
}

void AtariPool::write_frame(Env& e, int id, bool fill_stack) {
  const int h = pp_.height, w = pp_.width, plane = h * w;
  uint8_t* stack = out_.obs + static_cast<size_t>(id) * pp_.stack * plane;
  if (!fill_stack && pp_.stack > 1) std::copy(stack + plane, stack + pp_.stack * plane, stack);  // drop the oldest
  uint8_t* dst = stack + (pp_.stack - 1) * plane;
  const uint8_t* two = e.pool_two ? e.prev.data() : nullptr;
  if (h * 2 == kScreenH && w * 2 == kScreenW) {
    frames::halve(e.last.data(), two, e.lut, dst);  // the paper's frame, in one fused pass
  } else {
    frames::to_gray(e.last.data(), two, e.lut, e.gray.data(), kScreenSize);
    if (kScreenH % h == 0 && kScreenW % w == 0) {
      // Whole blocks (e.g. 210x160 -> 70x40): integer block means, rounded half to even exactly
      // as the general path's nearbyint of the weighted sum would.
      const uint8_t* g = e.gray.data();
      const int fy = kScreenH / h, fx = kScreenW / w, count = fy * fx;
      for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
          int sum = 0;
          for (int dy = 0; dy < fy; ++dy) {
            const int row = (y * fy + dy) * kScreenW + x * fx;
            for (int dx = 0; dx < fx; ++dx) sum += g[row + dx];
          }
          int q = sum / count;
          const int r2 = 2 * (sum % count);
          q += (r2 > count) || (r2 == count && (q & 1));
          dst[y * w + x] = static_cast<uint8_t>(q);
        }
      }
    } else {
      resize_general(e, e.gray.data(), dst);
    }
  }
  if (fill_stack)
    for (int s = 0; s + 1 < pp_.stack; ++s) std::copy(dst, dst + plane, stack + s * plane);
}

void AtariPool::resize_general(const Env& e, const uint8_t* src, uint8_t* dst) const {
  const int h = pp_.height, w = pp_.width;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      double v = 0.0;
      for (const Tap& r : e.row_taps[y]) {
        double row = 0.0;
        for (const Tap& c : e.col_taps[x]) row += c.weight * src[r.index * kScreenW + c.index];
        v += r.weight * row;
      }
      dst[y * w + x] = static_cast<uint8_t>(std::clamp(std::nearbyint(v), 0.0, 255.0));
    }
  }
}

void AtariPool::reset_env(Env& e, int id) {
  e.ale.reset_game();
  const int noops = pp_.noop_max > 0 ? 1 + static_cast<int>(e.rng.next() % static_cast<uint64_t>(pp_.noop_max)) : 0;
  for (int i = 0; i < noops; ++i) {
    e.ale.act(ale::PLAYER_A_NOOP);
    if (e.ale.game_over()) e.ale.reset_game();
  }
  capture(e.ale, e.last);
  e.pool_two = false;
  e.score = 0.0;
  e.steps = 0;
  e.lives = e.ale.lives();
  write_frame(e, id, /*fill_stack=*/true);
  if (pp_.fire_reset) {
    const auto fire = std::find(e.actions.begin(), e.actions.end(), ale::PLAYER_A_FIRE);
    if (fire != e.actions.end()) {
      for (int k = 0; k < pp_.frameskip && !e.ale.game_over(); ++k) e.ale.act(ale::PLAYER_A_FIRE);
      capture(e.ale, e.last);
      e.pool_two = false;
      write_frame(e, id, /*fill_stack=*/true);
      e.lives = e.ale.lives();
    }
  }
}

void AtariPool::run(int id) {
  Env& e = *envs_[id];
  if (e.action < 0 || e.action >= static_cast<int>(e.actions.size()))
    throw std::out_of_range("action " + std::to_string(e.action) + " of environment " + std::to_string(id) +
                            " is not in [0, " + std::to_string(e.actions.size()) + ")");
  const ale::Action a = e.actions[e.action];
  double reward = 0.0;
  int captured = 0;
  for (int k = 0; k < pp_.frameskip; ++k) {
    reward += e.ale.act(a);
    const bool over = e.ale.game_over();
    if (over || k >= pp_.frameskip - (pp_.max_pool ? 2 : 1)) {
      std::swap(e.prev, e.last);
      capture(e.ale, e.last);
      ++captured;
    }
    if (over) break;
  }
  e.pool_two = pp_.max_pool && captured >= 2;
  e.score += reward;
  e.steps += 1;
  const bool game_over = e.ale.game_over();
  const int lives = e.ale.lives();
  const bool life_lost = pp_.episodic_life && lives < e.lives;
  const bool truncated = !game_over && e.steps >= pp_.max_episode_steps;
  e.lives = lives;
  out_.reward[id] = static_cast<float>(pp_.clip_rewards ? (reward > 0) - (reward < 0) : reward);
  out_.terminated[id] = game_over || life_lost;
  out_.truncated[id] = truncated;
  out_.episode_return[id] = 0.0f;
  out_.episode_length[id] = 0;
  if (game_over || truncated) {
    out_.episode_return[id] = static_cast<float>(e.score);
    out_.episode_length[id] = e.steps;
    reset_env(e, id);
  } else {
    write_frame(e, id, /*fill_stack=*/false);
  }
  out_.lives[id] = e.ale.lives();
}

void AtariPool::enqueue(const int32_t* ids, const int32_t* actions, int count) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < count; ++i) {
    const int id = ids ? ids[i] : i;
    if (id < 0 || id >= num_envs()) throw std::out_of_range("environment id " + std::to_string(id) + " out of range");
    envs_[id]->action = actions[i];
    work_.push_back(id);
  }
  in_flight_ += count;
}

void AtariPool::step(const int32_t* actions) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (in_flight_) throw std::runtime_error("step() while asynchronous steps are in flight; recv() them first");
    wait_for_ = num_envs();
  }
  // Games that can end in this step (last life, or the step limit) are queued first: one that
  // ends runs ALE's reset and the no-op starts (~20 steps' worth of frames) before the step
  // returns, and started early that work overlaps the other workers' instead of holding up the
  // step's end. The order changes no result: every environment is stepped exactly once.
  const int n = num_envs();
  step_ids_.resize(n);
  step_actions_.resize(n);
  for (int i = 0; i < n; ++i) step_ids_[i] = i;
  std::stable_partition(step_ids_.begin(), step_ids_.end(), [this](int i) {
    const Env& e = *envs_[i];
    return e.lives <= 1 || e.steps + 1 >= pp_.max_episode_steps;
  });
  for (int k = 0; k < n; ++k) step_actions_[k] = actions[step_ids_[k]];
  enqueue(step_ids_.data(), step_actions_.data(), n);
  work_cv_.notify_all();
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [this] { return static_cast<int>(done_.size()) >= num_envs(); });
  done_.clear();
  in_flight_ = 0;
  if (!error_.empty()) {
    std::string err = error_;
    error_.clear();
    throw std::runtime_error(err);
  }
}

void AtariPool::reset(uint64_t seed) {
  std::unique_lock<std::mutex> lock(mu_);
  if (in_flight_) throw std::runtime_error("reset while asynchronous steps are in flight; recv() them first");
  lock.unlock();
  for_each_env(static_cast<int>(workers_.size()), [&](int i) {  // reloading the ROM reseeds the game
    Env& e = *envs_[i];
    e.ale.setInt("random_seed", static_cast<int>(mix(seed, i) & 0x7fffffff));
    e.ale.loadROM(rom_);
    e.lut = gray_table(e.ale);
    e.rng.state = mix(seed ^ kNoopStream, i);
    reset_env(e, i);
    out_.reward[i] = 0.0f;
    out_.terminated[i] = out_.truncated[i] = 0;
    out_.episode_return[i] = 0.0f;
    out_.episode_length[i] = 0;
    out_.lives[i] = e.ale.lives();
  });
}

void AtariPool::send(const int32_t* actions, const int32_t* env_ids, int count) {
  enqueue(env_ids, actions, count);
  work_cv_.notify_all();
}

int AtariPool::recv(int32_t* env_ids) {
  std::unique_lock<std::mutex> lock(mu_);
  if (in_flight_ < batch_size_)
    throw std::runtime_error("recv() needs at least batch_size steps in flight; " + std::to_string(in_flight_) +
                             " are");
  wait_for_ = batch_size_;
  done_cv_.wait(lock, [this] { return static_cast<int>(done_.size()) >= batch_size_; });
  for (int i = 0; i < batch_size_; ++i) {
    env_ids[i] = done_.front();
    done_.pop_front();
  }
  in_flight_ -= batch_size_;
  if (!error_.empty()) {
    std::string err = error_;
    error_.clear();
    throw std::runtime_error(err);
  }
  return batch_size_;
}

int AtariPool::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_flight_;
}

}  // namespace lf::atari
