// C++ tests of the CPU kernels against libtorch references: exact k-th magnitude (torch::kthvalue),
// exact pruned sets (stable sort), and the masked Adam step (torch tensor formula; AVX-512 and
// portable paths bit-identical).
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "cpu/select_cpu.h"
#include "cpu/step_cpu.h"
#include "common/numeric.h"
#include "support.h"

static int failures = 0;
#define EXPECT(cond)                                                       \
  do {                                                                     \
    if (!(cond)) {                                                         \
      std::fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                          \
    }                                                                      \
  } while (0)

static torch::Tensor alive_magnitudes(const std::vector<torch::Tensor>& ts, const std::vector<torch::Tensor>& ms) {
  std::vector<torch::Tensor> parts;
  for (size_t i = 0; i < ts.size(); ++i) parts.push_back(ts[i].to(torch::kDouble).abs().flatten().masked_select(ms[i].flatten()));
  return torch::cat(parts);
}

static void test_kth() {
  for (int trial = 0; trial < 20; ++trial) {
    torch::manual_seed(trial);
    std::vector<torch::Tensor> ts, ms;
    std::vector<lf::SelectSource> src;
    for (int64_t n : {0L, 1L, 777L, 70000L, 300001L}) {
      ts.push_back(torch::randn({n}) * (trial % 2 ? 1.0 : 1e-3));
      ms.push_back(torch::rand({n}) < 0.7);
    }
    for (size_t i = 0; i < ts.size(); ++i) src.push_back(lft::source(ts[i], ms[i]));
    const torch::Tensor ref = alive_magnitudes(ts, ms);
    const int64_t k = 1 + (trial * 7919) % ref.numel();
    lf::RankRequest rank;
    rank.k = static_cast<uint64_t>(k);
    const lf::SelectResult r = lf::select_kth_cpu(src.data(), static_cast<int64_t>(src.size()), rank);
    EXPECT(r.n_alive == static_cast<uint64_t>(ref.numel()));
    EXPECT(r.nan_source == -1);
    const double expected = std::get<0>(ref.kthvalue(k)).item<double>();
    EXPECT(lf::KeyTraits<uint32_t>::value(r.key) == expected);
  }
}

static void test_prune_ties_in_order() {
  torch::manual_seed(3);
  std::vector<torch::Tensor> ts = {torch::randint(-3, 4, {300000}).to(torch::kFloat), torch::randint(-3, 4, {50}).to(torch::kFloat)};
  std::vector<torch::Tensor> ms = {torch::rand({300000}) < 0.8, torch::rand({50}) < 0.8};
  std::vector<lf::SelectSource> src = {lft::source(ts[0], ms[0]), lft::source(ts[1], ms[1])};
  lf::RankRequest rank;
  rank.by_fraction = true;
  rank.fraction = 0.37;
  const lf::SelectResult r = lf::select_kth_cpu(src.data(), 2, rank);
  std::vector<torch::Tensor> out = {torch::empty({300000}, torch::kBool), torch::empty({50}, torch::kBool)};
  uint8_t* ptrs[2] = {reinterpret_cast<uint8_t*>(out[0].data_ptr<bool>()), reinterpret_cast<uint8_t*>(out[1].data_ptr<bool>())};
  lf::prune_cpu(src.data(), 2, r, ptrs);
  // Reference: stable argsort of the alive magnitudes in (tensor, index) order.
  const torch::Tensor all = torch::cat({ts[0], ts[1]}).abs();
  const torch::Tensor alive = torch::cat({ms[0], ms[1]});
  const torch::Tensor idx = alive.nonzero().flatten();
  const torch::Tensor order = std::get<1>(all.index_select(0, idx).sort(/*stable=*/true, 0, false));
  const int64_t k = std::llround(std::nearbyint(0.37 * idx.numel()));
  torch::Tensor expected = alive.clone();
  expected.index_put_({idx.index_select(0, order.slice(0, 0, k))}, false);
  EXPECT(torch::equal(torch::cat({out[0], out[1]}), expected));
}

static void test_adam_step() {
  torch::manual_seed(5);
  const int64_t n = 100003;
  const torch::Tensor mask = torch::rand({n}) < 0.2;
  const lft::MaskCode code = lft::encode(mask);
  std::vector<torch::Tensor> results;
  for (lf::CpuIsa isa : {lf::CpuIsa::Generic, lf::CpuIsa::Avx512}) {
    if (isa == lf::CpuIsa::Avx512 && lf::best_cpu_isa() != lf::CpuIsa::Avx512) continue;
    lf::set_cpu_isa(isa);
    torch::manual_seed(6);
    torch::Tensor p = torch::randn({n}) * mask, ref = p.clone();
    torch::Tensor m = torch::zeros({code.n_alive}), v = torch::zeros({code.n_alive});
    torch::Tensor rm = torch::zeros({n}), rv = torch::zeros({n});
    const float lr = 1e-2f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    lf::OptimHyper h{lr, b1, 1.0f - b1, b2, float(1.0 - 0.999), 0.99f, 0.01f, 0.0f, eps, 0.0f, false, false};
    for (int step = 1; step <= 5; ++step) {
      const torch::Tensor g = torch::randn({n});
      lf::TensorSlot s{p.data_ptr(), g.data_ptr(), {m.data_ptr(), v.data_ptr(), nullptr}, code.bits.data(),
                       code.group_base.data(), n, float(lr / (1.0 - std::pow(0.9, step))),
                       1.0f / float(std::pow(1.0 - std::pow(0.999, step), 0.5))};
      lf::step_cpu(lf::Algo::Adam, lf::DType::F32, &s, 1, h);
      const torch::Tensor gm = g * mask;
      rm = rm + (1.0f - b1) * (gm - rm);
      rv = rv * b2 + float(1.0 - 0.999) * gm * gm;
      const torch::Tensor denom = rv.to(torch::kDouble).sqrt().to(torch::kFloat) * s.inv_bc2_sqrt + eps;
      ref = ref + (-s.step_size * rm) / denom;
    }
    EXPECT(torch::allclose(p, ref, 1e-6, 1e-7));
    EXPECT(p.masked_select(mask.logical_not()).abs().max().item<float>() == 0.0f);
    EXPECT(torch::allclose(m, rm.masked_select(mask), 1e-6, 1e-6));
    results.push_back(p);
  }
  if (results.size() == 2) EXPECT(torch::equal(results[0], results[1]));
}

int main() {
  test_kth();
  test_prune_ties_in_order();
  test_adam_step();
  if (failures) {
    std::fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  std::printf("all C++ kernel tests passed\n");
  return 0;
}
