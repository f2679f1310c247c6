// Timing of the CPU kernels without Python in the way: masked Adam step and global k-th magnitude
// on 50M parameters in 50 tensors, 80 % pruned. `--smoke`: tiny sizes (ctest).
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "cpu/select_cpu.h"
#include "cpu/step_cpu.h"
#include "support.h"

template <class F>
static double median_ms(F&& f, int repeats) {
  f();
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) {
    const auto a = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

int main(int argc, char** argv) {
  const bool smoke = argc > 1 && std::strcmp(argv[1], "--smoke") == 0;
  const int64_t tensors = 50, per = smoke ? 10000 : 1000000;
  const int repeats = smoke ? 1 : 7;
  std::vector<torch::Tensor> p, g, m, v, masks;
  std::vector<lft::MaskCode> codes;
  std::vector<lf::TensorSlot> slots;
  std::vector<lf::SelectSource> src;
  for (int64_t i = 0; i < tensors; ++i) {
    masks.push_back(torch::rand({per}) < 0.2);
    codes.push_back(lft::encode(masks.back()));
    p.push_back(torch::randn({per}) * masks.back());
    g.push_back(torch::randn({per}));
    m.push_back(torch::zeros({codes.back().n_alive}));
    v.push_back(torch::zeros({codes.back().n_alive}));
  }
  for (int64_t i = 0; i < tensors; ++i) {
    slots.push_back({p[i].data_ptr(), g[i].data_ptr(), {m[i].data_ptr(), v[i].data_ptr(), nullptr}, codes[i].bits.data(),
                     codes[i].group_base.data(), per, 1e-3f, 1.0f});
    src.push_back(lft::source(p[i], masks[i]));
  }
  lf::OptimHyper h{1e-3f, 0.9f, 0.1f, 0.999f, 0.001f, 0.99f, 0.01f, 0.0f, 1e-8f, 0.0f, false, false};
  const double step = median_ms([&] { lf::step_cpu(lf::Algo::Adam, lf::DType::F32, slots.data(), tensors, h); }, repeats);
  lf::RankRequest rank;
  rank.by_fraction = true;
  rank.fraction = 0.2;
  const double kth = median_ms([&] { lf::select_kth_cpu(src.data(), tensors, rank); }, repeats);
  std::printf("%lldM params in %lld tensors, 80%% pruned: masked Adam step %.2f ms, k-th magnitude %.2f ms\n",
              static_cast<long long>(tensors * per / 1000000), static_cast<long long>(tensors), step, kth);
  return 0;
}
