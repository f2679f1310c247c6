// The Python-facing ops: argument checks, device dispatch, results back to Python.
#include <torch/extension.h>

#include <string>
#include <tuple>

#include "../common/numeric.h"
#include "../cpu/masked_linear.h"
#include "../cpu/select_cpu.h"
#include "../cpu/step_cpu.h"
#include "cuda_ops.h"
#include "tensors.h"

namespace lf {
namespace {

OptimHyper kernel_hyper(double lr, double beta1, double beta2, double alpha, double momentum, double eps,
                        double weight_decay, bool maximize, bool centered) {
  // 1 - beta in double first, as torch.optim passes (1 - beta) as a Python float.
  return OptimHyper{static_cast<float>(lr),        static_cast<float>(beta1),       static_cast<float>(1.0 - beta1),
                    static_cast<float>(beta2),     static_cast<float>(1.0 - beta2), static_cast<float>(alpha),
                    static_cast<float>(1.0 - alpha), static_cast<float>(momentum), static_cast<float>(eps),
                    static_cast<float>(weight_decay), maximize, centered};
}

void run_step(const StepArgs& a) {
  if (a.params.empty()) return;
  const DType dtype = kernel_dtype(a.params[0]);
  TORCH_CHECK_VALUE(dtype != DType::F64, "masked optimizers support float32, float16 and bfloat16 params, not float64");
  if (a.params[0].is_cuda()) {
    cuda_masked_step(a);
    return;
  }
  TORCH_CHECK_VALUE(a.params[0].is_cpu(), "masked_step: unsupported device ", a.params[0].device());
  PreparedStep prepared = prepare_step(a);
  step_cpu(a.algo, dtype, prepared.slots.data(), static_cast<int64_t>(prepared.slots.size()), a.hyper);
  finish_step(prepared);
}

Algo checked_algo(int64_t algo) {
  TORCH_CHECK_VALUE(algo == 0 || algo == 1, "masked_step: unknown algorithm ", algo);
  return static_cast<Algo>(algo);
}

// The arguments of a masked step that stay the same from step to step (params, state, masks,
// step counters), converted from Python once: only the grads and hyper-parameters cross per step
// (by name: see the binding below; an optimizer passes the ones it has).
class StepPlan {
 public:
  StepPlan(int64_t algo, std::vector<at::Tensor> params, std::vector<std::vector<at::Tensor>> states,
           std::vector<std::optional<at::Tensor>> bits, std::vector<std::optional<at::Tensor>> group_base,
           std::vector<at::Tensor> steps)
      : args_{checked_algo(algo), std::move(params), {}, std::move(states), std::move(bits), std::move(group_base),
              std::move(steps), 0.0, 0.0, 0.0, OptimHyper{}} {}

  void step(std::vector<at::Tensor> grads, double lr, double eps, double beta1, double beta2, double alpha,
            double momentum, double weight_decay, bool maximize, bool centered) {
    args_.grads = std::move(grads);
    args_.lr = lr;
    args_.beta1 = beta1;
    args_.beta2 = beta2;
    args_.hyper = kernel_hyper(lr, beta1, beta2, alpha, momentum, eps, weight_decay, maximize, centered);
    try {
      run_step(args_);
    } catch (...) {
      args_.grads.clear();
      throw;
    }
    args_.grads.clear();  // the plan must not keep the grads alive
  }

 private:
  StepArgs args_;
};

at::Device common_device(const std::vector<at::Tensor>& tensors, const std::vector<std::optional<at::Tensor>>& masks) {
  at::Device device = tensors.empty() ? at::Device(at::kCPU) : tensors[0].device();
  for (size_t i = 0; i < tensors.size(); ++i) {
    TORCH_CHECK_VALUE(tensors[i].device() == device, "tensors[", i, "] is on ", tensors[i].device(), ", tensors[0] on ",
                      device, ": all tensors of a global selection must be on one device");
    if (i < masks.size() && masks[i].has_value())
      TORCH_CHECK_VALUE(masks[i]->device() == device, "masks[", i, "] is on ", masks[i]->device(), ", its tensor on ",
                        device);
  }
  return device;
}

double key_value(const SelectResult& r, const PreparedSelect& in) {
  for (const SelectSource& s : in.sources)
    if (s.dtype == DType::F64 && s.n > 0) return KeyTraits<uint64_t>::value(r.key);
  return KeyTraits<uint32_t>::value(r.key);
}

SelectResult run_select(const PreparedSelect& in, const RankRequest& rank, const at::Device& device) {
  if (device.is_cuda()) return cuda_select_kth(in, rank, device);
  return select_kth_cpu(in.sources.data(), static_cast<int64_t>(in.sources.size()), rank);
}

// (n_alive, k, value, nan_source): value is the k-th smallest magnitude when k was in [1, n_alive].
std::tuple<int64_t, int64_t, double, int64_t> kth_smallest(std::vector<at::Tensor> tensors,
                                                           std::vector<std::optional<at::Tensor>> masks, int64_t k) {
  TORCH_CHECK_VALUE(k >= 0, "k must be >= 0, got ", k);
  const at::Device device = common_device(tensors, masks);
  const PreparedSelect in = prepare_select(tensors, masks);
  RankRequest rank;
  rank.k = static_cast<uint64_t>(k);
  const SelectResult r = run_select(in, rank, device);
  const double value = r.k ? key_value(r, in) : 0.0;
  return {static_cast<int64_t>(r.n_alive), static_cast<int64_t>(r.k), value, r.nan_source};
}

// (new masks, n_alive, n_pruned, threshold, nan_source).
std::tuple<std::vector<at::Tensor>, int64_t, int64_t, double, int64_t> prune(
    std::vector<at::Tensor> tensors, std::vector<std::optional<at::Tensor>> masks, double fraction) {
  TORCH_CHECK_VALUE(fraction >= 0.0 && fraction < 1.0, "fraction must be in [0, 1), got ", fraction);
  const at::Device device = common_device(tensors, masks);
  const PreparedSelect in = prepare_select(tensors, masks);
  RankRequest rank;
  rank.by_fraction = true;
  rank.fraction = fraction;
  const SelectResult r = run_select(in, rank, device);
  std::vector<at::Tensor> out;
  if (r.nan_source >= 0) return {out, static_cast<int64_t>(r.n_alive), 0, 0.0, r.nan_source};
  std::vector<uint8_t*> out_ptrs;
  for (const at::Tensor& t : tensors) {
    out.push_back(at::empty(t.sizes(), t.options().dtype(at::kBool)));
    out_ptrs.push_back(reinterpret_cast<uint8_t*>(out.back().data_ptr<bool>()));
  }
  if (device.is_cuda()) {
    cuda_prune(in, r, out, device);
  } else {
    prune_cpu(in.sources.data(), static_cast<int64_t>(in.sources.size()), r, out_ptrs.data());
  }
  const double threshold = r.k ? key_value(r, in) : 0.0;
  return {out, static_cast<int64_t>(r.n_alive), static_cast<int64_t>(r.k), threshold, -1};
}

std::string isa_name(CpuIsa isa) { return isa == CpuIsa::Avx512 ? "avx512" : "generic"; }

void set_isa(const std::string& name) {
  TORCH_CHECK_VALUE(name == "avx512" || name == "generic", "unknown CPU ISA '", name, "' (avx512 or generic)");
  try {
    set_cpu_isa(name == "avx512" ? CpuIsa::Avx512 : CpuIsa::Generic);
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK_VALUE(false, e.what());
  }
}

// Checks of the masked linear ops' tensors: CPU, contiguous, the dtype and shape they must have.
void check_ml(const at::Tensor& t, const char* name, at::ScalarType dtype, at::IntArrayRef shape) {
  TORCH_CHECK_VALUE(t.device().is_cpu(), "masked_linear: ", name, " must be a CPU tensor, got ", t.device());
  TORCH_CHECK_VALUE(t.scalar_type() == dtype, "masked_linear: ", name, " must be ", dtype, ", got ", t.scalar_type());
  TORCH_CHECK_VALUE(t.is_contiguous(), "masked_linear: ", name, " must be contiguous");
  TORCH_CHECK_VALUE(t.sizes() == shape, "masked_linear: ", name, " has shape ", t.sizes(), ", expected ", shape);
}

int64_t check_pattern(const at::Tensor& row_ptr, const at::Tensor& cols) {
  TORCH_CHECK_VALUE(row_ptr.dim() == 1 && row_ptr.numel() >= 1, "masked_linear: row_ptr must be 1-D with rows + 1 entries");
  check_ml(row_ptr, "row_ptr", at::kLong, {row_ptr.numel()});
  check_ml(cols, "cols", at::kInt, {cols.numel()});
  return row_ptr.numel() - 1;
}

int64_t check_tokens(const at::Tensor& t, const char* name) {
  TORCH_CHECK_VALUE(t.dim() == 2 && t.size(1) % kMaskedLinearTile == 0, "masked_linear: ", name,
                    " must be [features, tokens] with tokens padded to a multiple of ", kMaskedLinearTile, ", got ",
                    t.sizes());
  return t.size(1);
}

// [n, f] (rows may be strided) -> [f, np] with zero padding columns (np = pad_to multiple), or,
// with pad_to = 0, a plain [f, n] transpose of a [n, f] matrix.
// The result tensor: `out` when given (a reused workspace: no fresh pages to fault in), else new.
at::Tensor result(const std::optional<at::Tensor>& out, at::IntArrayRef shape, const at::TensorOptions& opts,
                  const char* op) {
  if (!out) return at::empty(shape, opts);
  check_ml(*out, op, at::kFloat, shape);
  return *out;
}

at::Tensor transpose_pad(const at::Tensor& x, int64_t pad_to, const std::optional<at::Tensor>& out_ws) {
  TORCH_CHECK_VALUE(x.dim() == 2 && x.device().is_cpu() && x.scalar_type() == at::kFloat,
                    "transpose_pad: x must be a 2-D float32 CPU tensor, got ", x.sizes(), " ", x.scalar_type());
  TORCH_CHECK_VALUE(x.stride(1) == 1 || x.size(1) <= 1, "transpose_pad: x's rows must be contiguous");
  const int64_t n = x.size(0), f = x.size(1);
  const int64_t np = pad_to > 0 ? (n + pad_to - 1) / pad_to * pad_to : n;
  at::Tensor out = result(out_ws, {f, np}, x.options(), "transpose_pad out");
  if (n > 0 && f > 0) transpose_f32(x.data_ptr<float>(), n, f, x.stride(0), out.data_ptr<float>(), np);
  if (np > n) out.narrow(1, n, np - n).zero_();
  return out;
}

at::Tensor ml_gather(const at::Tensor& w, const at::Tensor& row_ptr, const at::Tensor& cols) {
  const int64_t rows = check_pattern(row_ptr, cols);
  TORCH_CHECK_VALUE(w.dim() == 2, "masked_linear: weight must be 2-D, got ", w.sizes());
  check_ml(w, "weight", at::kFloat, {rows, w.size(1)});
  at::Tensor vals = at::empty({cols.numel()}, w.options());
  masked_linear_gather(w.data_ptr<float>(), row_ptr.data_ptr<int64_t>(), cols.data_ptr<int32_t>(), rows, w.size(1),
                       vals.data_ptr<float>());
  return vals;
}

at::Tensor ml_forward(const at::Tensor& vals, const at::Tensor& row_ptr, const at::Tensor& cols, const at::Tensor& xT,
                      const std::optional<at::Tensor>& bias, const std::optional<at::Tensor>& out) {
  const int64_t rows = check_pattern(row_ptr, cols), np = check_tokens(xT, "xT");
  check_ml(vals, "vals", at::kFloat, {cols.numel()});
  check_ml(xT, "xT", at::kFloat, {xT.size(0), np});
  if (bias) check_ml(*bias, "bias", at::kFloat, {rows});
  at::Tensor yT = result(out, {rows, np}, xT.options(), "forward out");
  masked_linear_forward(vals.data_ptr<float>(), row_ptr.data_ptr<int64_t>(), cols.data_ptr<int32_t>(), rows,
                        xT.data_ptr<float>(), np, bias ? bias->data_ptr<float>() : nullptr, yT.data_ptr<float>());
  return yT;
}

at::Tensor ml_grad_input(const at::Tensor& col_vals, const at::Tensor& col_ptr, const at::Tensor& col_rows,
                         int64_t rows, const at::Tensor& gT, const std::optional<at::Tensor>& out) {
  const int64_t np = check_tokens(gT, "gT");
  check_ml(gT, "gT", at::kFloat, {rows, np});
  check_ml(col_rows, "col_rows", at::kInt, {col_rows.numel()});
  check_ml(col_vals, "col_vals", at::kFloat, {col_rows.numel()});
  const int64_t blocks = std::max<int64_t>(1, (rows + kMaskedLinearRowBlock - 1) / kMaskedLinearRowBlock);
  TORCH_CHECK_VALUE(col_ptr.dim() == 1 && (col_ptr.numel() - 1) % blocks == 0,
                    "masked_linear: col_ptr must have blocks * in + 1 entries, got ", col_ptr.sizes());
  check_ml(col_ptr, "col_ptr", at::kLong, {col_ptr.numel()});
  const int64_t in = (col_ptr.numel() - 1) / blocks;
  at::Tensor gxT = result(out, {in, np}, gT.options(), "grad_input out");
  masked_linear_grad_input(col_vals.data_ptr<float>(), col_ptr.data_ptr<int64_t>(), col_rows.data_ptr<int32_t>(),
                           rows, in, gT.data_ptr<float>(), np, gxT.data_ptr<float>());
  return gxT;
}

at::Tensor ml_grad_weight(const at::Tensor& row_ptr, const at::Tensor& cols, const at::Tensor& gT, const at::Tensor& xT) {
  const int64_t rows = check_pattern(row_ptr, cols), np = check_tokens(gT, "gT");
  check_ml(gT, "gT", at::kFloat, {rows, np});
  check_ml(xT, "xT", at::kFloat, {xT.size(0), np});
  at::Tensor gw = at::empty({rows, xT.size(0)}, gT.options());
  masked_linear_grad_weight(row_ptr.data_ptr<int64_t>(), cols.data_ptr<int32_t>(), rows, xT.size(0),
                            gT.data_ptr<float>(), xT.data_ptr<float>(), np, gw.data_ptr<float>());
  return gw;
}

}  // namespace
}  // namespace lf

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "lotteryfast kernels: fused masked Adam/RMSprop steps and exact global magnitude selection";
  // The kernels touch no Python object: other Python threads run while they work.
  using release = py::call_guard<py::gil_scoped_release>;
  py::class_<lf::StepPlan>(m, "StepPlan", "A masked optimizer step's per-step-constant arguments, converted once")
      .def(py::init<int64_t, std::vector<at::Tensor>, std::vector<std::vector<at::Tensor>>,
                    std::vector<std::optional<at::Tensor>>, std::vector<std::optional<at::Tensor>>,
                    std::vector<at::Tensor>>(),
           py::arg("algo"), py::arg("params"), py::arg("states"), py::arg("bits"), py::arg("group_base"),
           py::arg("steps"))
      .def("step", &lf::StepPlan::step, release(), py::arg("grads"), py::kw_only(), py::arg("lr"), py::arg("eps"),
           py::arg("beta1") = 0.0, py::arg("beta2") = 0.0, py::arg("alpha") = 0.0, py::arg("momentum") = 0.0,
           py::arg("weight_decay") = 0.0, py::arg("maximize") = false, py::arg("centered") = false,
           "One masked step with these grads; hyper-parameters by name (Adam: lr, beta1, beta2, eps; RMSprop: "
           "lr, alpha, momentum, eps, centered; both: weight_decay, maximize)");
  m.attr("MASK_GROUP") = lf::kMaskGroup;  // elements per group_base entry of a packed mask
  m.def("kth_smallest", &lf::kth_smallest, release(), "Exact k-th smallest magnitude over tensors (radix select)");
  m.def("prune", &lf::prune, release(), "Global magnitude pruning of a fraction of the unpruned entries");
  m.def("transpose_pad", &lf::transpose_pad, release(), py::arg("x"), py::arg("pad_to") = 0, py::arg("out") = py::none(),
        "[n, f] -> [f, n padded to a multiple of pad_to] (zero padding), blocked and parallel");
  m.def("masked_linear_gather", &lf::ml_gather, release(), "Values of a weight's kept entries, row by row");
  m.def("masked_linear_forward", &lf::ml_forward, release(), py::arg("vals"), py::arg("row_ptr"), py::arg("cols"),
        py::arg("xT"), py::arg("bias"), py::arg("out") = py::none(), "yT = W xT + b over the kept weights only");
  m.def("masked_linear_grad_input", &lf::ml_grad_input, release(), py::arg("col_vals"), py::arg("col_ptr"),
        py::arg("col_rows"), py::arg("rows"), py::arg("gT"), py::arg("out") = py::none(),
        "gxT = W^T gT over the kept weights only, from their lists by input within row blocks");
  m.attr("MASKED_LINEAR_ROW_BLOCK") = lf::kMaskedLinearRowBlock;
  m.def("masked_linear_grad_weight", &lf::ml_grad_weight, release(),
        "gW = gT xT^T at the kept weights, 0 at the pruned ones");
  m.def("cpu_isa", [] { return lf::isa_name(lf::active_cpu_isa()); }, "CPU instruction set the kernels use");
  m.def("best_cpu_isa", [] { return lf::isa_name(lf::best_cpu_isa()); }, "Best CPU instruction set available");
  m.def("set_cpu_isa", &lf::set_isa, "Force the CPU instruction set ('avx512' or 'generic')");
  m.def("built_with_cuda", &lf::built_with_cuda, "Whether the CUDA kernels were compiled in");
}
