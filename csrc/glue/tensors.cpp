#include "tensors.h"

#include <cmath>

namespace lf {

DType kernel_dtype(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat: return DType::F32;
    case at::kHalf: return DType::F16;
    case at::kBFloat16: return DType::BF16;
    case at::kDouble: return DType::F64;
    default: TORCH_CHECK_VALUE(false, "lotteryfast kernels do not support dtype ", t.scalar_type());
  }
}

PreparedStep prepare_step(const StepArgs& a) {
  const size_t n = a.params.size();
  TORCH_CHECK_VALUE(a.grads.size() == n && a.states.size() == n && a.bits.size() == n && a.group_base.size() == n &&
                        a.steps.size() == n,
                    "masked_step: argument lists differ in length");
  PreparedStep out;
  out.slots.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const at::Tensor& p = a.params[i];
    TORCH_CHECK_VALUE(p.device() == a.params[0].device() && p.scalar_type() == a.params[0].scalar_type(),
                      "masked_step: params of one call must share device and dtype");
    TORCH_CHECK_VALUE(a.grads[i].sizes() == p.sizes() && a.grads[i].scalar_type() == p.scalar_type(),
                      "masked_step: grad ", i, " does not match its param");
    TensorSlot& s = out.slots[i];
    at::Tensor pc = p;
    if (!p.is_contiguous()) {
      pc = p.contiguous();
      out.write_back.emplace_back(p, pc);
    }
    const at::Tensor gc = a.grads[i].contiguous();
    out.keep_alive.push_back(gc);
    s.p = pc.data_ptr();
    s.g = gc.data_ptr();
    s.n = p.numel();
    for (int k = 0; k < 3; ++k) s.state[k] = nullptr;
    TORCH_CHECK_VALUE(a.states[i].size() <= 3, "masked_step: at most three state tensors");
    for (size_t k = 0; k < a.states[i].size(); ++k) {
      TORCH_CHECK_VALUE(a.states[i][k].is_contiguous() && a.states[i][k].scalar_type() == p.scalar_type(),
                        "masked_step: state tensors must be contiguous and of the param's dtype");
      s.state[k] = a.states[i][k].data_ptr();
    }
    s.bits = nullptr;
    s.group_base = nullptr;
    if (a.bits[i].has_value()) {
      TORCH_CHECK_VALUE(a.group_base[i].has_value(), "masked_step: bits without group_base");
      TORCH_CHECK_VALUE(a.bits[i]->numel() == (s.n + 127) / 128 * 4 && a.group_base[i]->numel() == (s.n + 127) / 128,
                        "masked_step: mask code of param ", i, " does not match its size");
      s.bits = reinterpret_cast<const uint32_t*>(a.bits[i]->data_ptr<int32_t>());
      s.group_base = a.group_base[i]->data_ptr<int64_t>();
    } else {
      for (const at::Tensor& st : a.states[i])
        TORCH_CHECK_VALUE(st.numel() == s.n, "masked_step: dense state of param ", i, " has the wrong size");
    }
    // Bias corrections in double, exactly as torch.optim.Adam computes them from the float32 step.
    TORCH_CHECK_VALUE(a.steps[i].is_cpu() && a.steps[i].scalar_type() == at::kFloat && a.steps[i].numel() == 1,
                      "masked_step: step counters must be float32 CPU scalars");
    float* step = a.steps[i].data_ptr<float>();
    *step += 1.0f;
    const double t = static_cast<double>(*step);
    s.step_size = static_cast<float>(a.lr / (1.0 - std::pow(a.beta1, t)));
    s.inv_bc2_sqrt = 1.0f / static_cast<float>(std::pow(1.0 - std::pow(a.beta2, t), 0.5));
  }
  return out;
}

void finish_step(PreparedStep& prepared) {
  for (auto& [param, copy] : prepared.write_back) param.copy_(copy);
}

PreparedSelect prepare_select(const std::vector<at::Tensor>& tensors, const std::vector<std::optional<at::Tensor>>& masks) {
  TORCH_CHECK_VALUE(masks.size() == tensors.size(), "select: ", masks.size(), " masks for ", tensors.size(), " tensors");
  PreparedSelect out;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const at::Tensor t = tensors[i].contiguous();
    out.keep_alive.push_back(t);
    SelectSource s{t.data_ptr(), nullptr, t.numel(), kernel_dtype(t)};
    if (masks[i].has_value()) {
      const at::Tensor m = masks[i]->contiguous();
      out.keep_alive.push_back(m);
      s.mask = reinterpret_cast<const uint8_t*>(m.data_ptr<bool>());
    }
    out.sources.push_back(s);
  }
  return out;
}

}  // namespace lf
