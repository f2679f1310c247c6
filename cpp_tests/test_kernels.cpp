// C++ tests of the CPU kernels against libtorch references: exact k-th magnitude (torch::kthvalue),
// exact pruned sets (stable sort), the masked Adam step (torch tensor formula; AVX-512 and
// portable paths bit-identical), and the masked linear products (dense float64 products).
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "cpu/masked_linear.h"
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

// Forward, input and weight gradients of the masked linear kernels on a 2,100 x 37 weight (three
// row blocks of the input gradient's lists) and 300 tokens (two tiles), both instruction sets.
static void test_masked_linear() {
  torch::manual_seed(7);
  const int64_t rows = 2100, in = 37, n = 300, tile = lf::kMaskedLinearTile, block = lf::kMaskedLinearRowBlock;
  const int64_t np = (n + tile - 1) / tile * tile;
  const torch::Tensor mask = torch::rand({rows, in}) < 0.25;
  const torch::Tensor w = torch::randn({rows, in}) * mask, b = torch::randn({rows});
  const torch::Tensor x = torch::randn({n, in}), g = torch::randn({n, rows});
  // Pattern: kept entries by row, and by (row block, input) with rows ascending.
  std::vector<int64_t> row_ptr{0}, col_ptr(((rows + block - 1) / block) * in + 1, 0);
  std::vector<int32_t> cols, col_rows;
  std::vector<float> vals, col_vals;
  const auto m = mask.accessor<bool, 2>();
  const auto wa = w.accessor<float, 2>();
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t k = 0; k < in; ++k)
      if (m[i][k]) cols.push_back(int32_t(k)), vals.push_back(wa[i][k]), ++col_ptr[(i / block) * in + k + 1];
    row_ptr.push_back(int64_t(cols.size()));
  }
  for (size_t c = 1; c < col_ptr.size(); ++c) col_ptr[c] += col_ptr[c - 1];
  for (int64_t bl = 0; bl * block < rows; ++bl)
    for (int64_t k = 0; k < in; ++k)
      for (int64_t i = bl * block; i < std::min(rows, bl * block + block); ++i)
        if (m[i][k]) col_rows.push_back(int32_t(i)), col_vals.push_back(wa[i][k]);
  const auto padded = [&](const torch::Tensor& t) {  // [n, f] -> [f, np]
    return torch::cat({t.t(), torch::zeros({t.size(1), np - n})}, 1).contiguous();
  };
  const torch::Tensor xT = padded(x), gT = padded(g);
  const torch::Tensor y_ref = torch::addmm(b.to(torch::kDouble), x.to(torch::kDouble), w.to(torch::kDouble).t());
  const torch::Tensor gx_ref = g.to(torch::kDouble).mm(w.to(torch::kDouble));
  const torch::Tensor gw_ref = g.to(torch::kDouble).t().mm(x.to(torch::kDouble)) * mask;
  for (lf::CpuIsa isa : {lf::CpuIsa::Generic, lf::CpuIsa::Avx512}) {
    if (isa == lf::CpuIsa::Avx512 && lf::best_cpu_isa() != lf::CpuIsa::Avx512) continue;
    lf::set_cpu_isa(isa);
    torch::Tensor yT = torch::empty({rows, np}), gxT = torch::empty({in, np}), gw = torch::empty({rows, in});
    lf::masked_linear_forward(vals.data(), row_ptr.data(), cols.data(), rows, xT.data_ptr<float>(), np,
                              b.data_ptr<float>(), yT.data_ptr<float>());
    lf::masked_linear_grad_input(col_vals.data(), col_ptr.data(), col_rows.data(), rows, in, gT.data_ptr<float>(), np,
                                 gxT.data_ptr<float>());
    lf::masked_linear_grad_weight(row_ptr.data(), cols.data(), rows, in, gT.data_ptr<float>(), xT.data_ptr<float>(),
                                  np, gw.data_ptr<float>());
    EXPECT(torch::allclose(yT.slice(1, 0, n).t().to(torch::kDouble), y_ref, 0, 1e-4));
    EXPECT(torch::allclose(gxT.slice(1, 0, n).t().to(torch::kDouble), gx_ref, 0, 1e-3));
    EXPECT(torch::allclose(gw.to(torch::kDouble), gw_ref, 0, 1e-3));
    EXPECT(gw.masked_select(mask.logical_not()).abs().max().item<float>() == 0.0f);
  }
  lf::set_cpu_isa(lf::best_cpu_isa());
}

int main() {
  test_masked_linear();
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
