// Python module lotteryfast._box2d: LunarLander-v2 in C++ (one environment, for tests and
// replays) and LunarLanderPool (the batch the classic-control task steps), over NumPy arrays.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>

#include "lunar_lander.h"

namespace py = pybind11;
using lf::SplitMix64;
using lf::box2d::kObsDim;
using lf::box2d::LunarLander;
using lf::box2d::LunarLanderPool;

namespace {

using F32 = py::array_t<float, py::array::c_style>;
using F64 = py::array_t<double, py::array::c_style>;
using U8 = py::array_t<uint8_t, py::array::c_style>;

// One environment with its own SplitMix64 stream (seeded as the pool seeds environment `index`).
struct SingleLander {
  LunarLander env;
  SplitMix64 rng;
  bool started = false;

  SingleLander(uint64_t seed, uint64_t index) : rng{lf::mix(seed, index)} {}

  F32 reset() {
    F32 obs(kObsDim);
    env.reset(rng, obs.mutable_data());
    started = true;
    return obs;
  }

  py::tuple step(int action) {
    if (!started) throw std::logic_error("call reset() before step()");
    if (action < 0 || action >= lf::box2d::kActions)
      throw std::invalid_argument("LunarLander action must be in [0, 4), got " + std::to_string(action));
    F32 obs(kObsDim);
    bool terminated = false;
    const double reward = env.step(action, rng, obs.mutable_data(), &terminated);
    return py::make_tuple(obs, reward, terminated);
  }
};

struct PyPool {
  LunarLanderPool pool;
  int members, envs;

  PyPool(const std::vector<uint64_t>& seeds, int envs, int max_steps, int threads)
      : pool(seeds, envs, max_steps, threads), members(static_cast<int>(seeds.size())), envs(envs) {}

  F32 reset() {
    F32 obs({members, envs, kObsDim});
    {
      py::gil_scoped_release release;
      pool.reset(obs.mutable_data());
    }
    return obs;
  }

  py::tuple step(const py::array_t<int64_t, py::array::c_style | py::array::forcecast>& actions) {
    if (actions.ndim() != 2 || actions.shape(0) != members || actions.shape(1) != envs) {
      std::string got;
      for (py::ssize_t d = 0; d < actions.ndim(); ++d) got += (d ? ", " : "") + std::to_string(actions.shape(d));
      throw std::invalid_argument("expected actions shaped [" + std::to_string(members) + ", " +
                                  std::to_string(envs) + "], got [" + got + "]");
    }
    F32 obs({members, envs, kObsDim});
    F64 reward({members, envs}), episode_return({members, envs});
    U8 terminated({members, envs}), truncated({members, envs});
    const lf::box2d::PoolOutputs out{obs.mutable_data(), reward.mutable_data(), terminated.mutable_data(),
                                     truncated.mutable_data(), episode_return.mutable_data()};
    const int64_t* a = actions.data();
    {
      py::gil_scoped_release release;
      pool.step(a, out);
    }
    return py::make_tuple(obs, reward, terminated, truncated, episode_return);
  }
};

}  // namespace

PYBIND11_MODULE(_box2d, m) {
  m.doc() = "LunarLander-v2 on Box2D 2.3.2 in C++ (gymnasium's dynamics), batched on OpenMP threads";
  m.attr("OBS_DIM") = kObsDim;
  m.attr("N_ACTIONS") = lf::box2d::kActions;
  py::class_<SingleLander>(m, "LunarLander")
      .def(py::init<uint64_t, uint64_t>(), py::arg("seed"), py::arg("index") = 0)
      .def("reset", &SingleLander::reset, "New episode; returns the first observation (float32[8])")
      .def("step", &SingleLander::step, py::arg("action"), "-> (obs float32[8], reward, terminated)");
  py::class_<PyPool>(m, "LunarLanderPool")
      .def(py::init<const std::vector<uint64_t>&, int, int, int>(), py::arg("seeds"), py::arg("envs"),
           py::arg("max_steps") = 1000, py::arg("threads") = 0)
      .def_readonly("members", &PyPool::members)
      .def_readonly("envs", &PyPool::envs)
      .def("reset", &PyPool::reset, "Starts every environment; returns obs float32[members, envs, 8]")
      .def("step", &PyPool::step, py::arg("actions"),
           "actions int64[members, envs] -> (obs, reward f64, terminated u8, truncated u8, episode_return f64)");
}
