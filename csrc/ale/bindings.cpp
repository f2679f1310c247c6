// Python module lotteryfast._ale: the AtariPool over torch tensors the pool writes into.
#include <torch/extension.h>

#include <memory>

#include "frames.h"
#include "pool.h"

// Defined by tools/patch_ale.py in ALE's TIA (declared in the patched ale/emucore/TIA.hxx).
namespace ale { namespace stella { extern bool lf_tia_simd; } }

namespace {

using lf::atari::AtariPool;
using lf::atari::Preprocessing;

class TorchAtariPool {
 public:
  TorchAtariPool(const std::string& rom, int num_envs, int num_threads, int batch_size, uint64_t seed,
                 const Preprocessing& pp) {
    TORCH_CHECK_VALUE(num_envs >= 1, "num_envs must be >= 1, got ", num_envs);
    TORCH_CHECK_VALUE(batch_size >= 1 && batch_size <= num_envs, "batch_size must be in [1, num_envs=", num_envs,
                      "], got ", batch_size);
    TORCH_CHECK_VALUE(num_threads >= 0, "num_threads must be >= 0 (0 = one per core), got ", num_threads);
    const auto u8 = torch::TensorOptions().dtype(torch::kUInt8);
    obs = torch::zeros({num_envs, pp.stack, pp.height, pp.width}, u8);
    reward = torch::zeros({num_envs}, torch::kFloat32);
    terminated = torch::zeros({num_envs}, torch::kBool);
    truncated = torch::zeros({num_envs}, torch::kBool);
    episode_return = torch::zeros({num_envs}, torch::kFloat32);
    episode_length = torch::zeros({num_envs}, torch::kInt32);
    lives = torch::zeros({num_envs}, torch::kInt32);
    lf::atari::Outputs out{obs.data_ptr<uint8_t>(),
                           reward.data_ptr<float>(),
                           reinterpret_cast<uint8_t*>(terminated.data_ptr<bool>()),
                           reinterpret_cast<uint8_t*>(truncated.data_ptr<bool>()),
                           episode_return.data_ptr<float>(),
                           episode_length.data_ptr<int32_t>(),
                           lives.data_ptr<int32_t>()};
    try {
      pool = std::make_unique<AtariPool>(rom, num_envs, num_threads, batch_size, seed, pp, out);
    } catch (const std::invalid_argument& e) {
      TORCH_CHECK_VALUE(false, e.what());
    }
  }

  void reset(uint64_t seed) {
    py::gil_scoped_release release;
    pool->reset(seed);
  }

  void step(const torch::Tensor& actions) {
    const torch::Tensor a = check_actions(actions, pool->num_envs());
    py::gil_scoped_release release;
    pool->step(a.data_ptr<int32_t>());
  }

  void send(const torch::Tensor& actions, const torch::Tensor& env_ids) {
    const torch::Tensor ids = env_ids.to(torch::kInt32).contiguous();
    const torch::Tensor a = check_actions(actions, ids.numel());
    py::gil_scoped_release release;
    pool->send(a.data_ptr<int32_t>(), ids.data_ptr<int32_t>(), static_cast<int>(ids.numel()));
  }

  torch::Tensor recv(int batch_size) {
    torch::Tensor ids = torch::empty({batch_size}, torch::kInt32);
    {
      py::gil_scoped_release release;
      pool->recv(ids.data_ptr<int32_t>());
    }
    return ids;
  }

  torch::Tensor obs, reward, terminated, truncated, episode_return, episode_length, lives;
  std::unique_ptr<AtariPool> pool;

 private:
  static torch::Tensor check_actions(const torch::Tensor& actions, int64_t n) {
    TORCH_CHECK_VALUE(actions.dim() == 1 && actions.numel() == n, "expected ", n, " actions, got shape ",
                      actions.sizes());
    return actions.to(torch::kInt32).contiguous();
  }
};

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "lotteryfast's batched ALE actor pool (C++ threads, C++ preprocessing)";
  m.def("frames_simd_active", &lf::atari::frames::simd_active,
        "whether frame preprocessing runs its AVX-512 VBMI path (CPU support and not switched off)");
  m.def("set_frames_simd", &lf::atari::frames::set_simd, py::arg("enabled"),
        "switches the AVX-512 frame preprocessing on or off (off: the scalar path; for tests)");
  m.def("tia_simd_active", [] { return ale::stella::lf_tia_simd; },
        "whether ALE's TIA draws spans with objects 64 pixels at a time (tools/patch_ale.py: AVX-512 VBMI "
        "and LOTTERYFAST_ALE_SCALAR_TIA not set when the module was loaded)");
  py::class_<Preprocessing>(m, "Preprocessing")
      .def(py::init<>())
      .def_readwrite("frameskip", &Preprocessing::frameskip)
      .def_readwrite("max_pool", &Preprocessing::max_pool)
      .def_readwrite("height", &Preprocessing::height)
      .def_readwrite("width", &Preprocessing::width)
      .def_readwrite("stack", &Preprocessing::stack)
      .def_readwrite("noop_max", &Preprocessing::noop_max)
      .def_readwrite("episodic_life", &Preprocessing::episodic_life)
      .def_readwrite("fire_reset", &Preprocessing::fire_reset)
      .def_readwrite("clip_rewards", &Preprocessing::clip_rewards)
      .def_readwrite("repeat_action_probability", &Preprocessing::repeat_action_probability)
      .def_readwrite("max_episode_steps", &Preprocessing::max_episode_steps)
      .def_readwrite("full_action_space", &Preprocessing::full_action_space);
  py::class_<TorchAtariPool>(m, "AtariPool")
      .def(py::init<const std::string&, int, int, int, uint64_t, const Preprocessing&>())
      .def("reset", &TorchAtariPool::reset)
      .def("step", &TorchAtariPool::step)
      .def("send", &TorchAtariPool::send)
      .def("recv", &TorchAtariPool::recv)
      .def_property_readonly("num_actions", [](const TorchAtariPool& p) { return p.pool->num_actions(); })
      .def_property_readonly("num_threads", [](const TorchAtariPool& p) { return p.pool->num_threads(); })
      .def_property_readonly("pending", [](const TorchAtariPool& p) { return p.pool->pending(); })
      .def_readonly("obs", &TorchAtariPool::obs)
      .def_readonly("reward", &TorchAtariPool::reward)
      .def_readonly("terminated", &TorchAtariPool::terminated)
      .def_readonly("truncated", &TorchAtariPool::truncated)
      .def_readonly("episode_return", &TorchAtariPool::episode_return)
      .def_readonly("episode_length", &TorchAtariPool::episode_length)
      .def_readonly("lives", &TorchAtariPool::lives);
}
