// The CUDA side of the ops (built only against a CUDA torch): device guard, current stream and
// workspace from torch, then the torch-free kernels of csrc/cuda.
#include "cuda_ops.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "../cuda/select_cuda.h"
#include "../cuda/step_cuda.h"

namespace lf {

bool built_with_cuda() { return true; }

void cuda_masked_step(const StepArgs& a) {
  const c10::cuda::CUDAGuard guard(a.params[0].device());
  PreparedStep prepared = prepare_step(a);
  step_cuda(a.algo, kernel_dtype(a.params[0]), prepared.slots.data(), static_cast<int64_t>(prepared.slots.size()),
            a.hyper, at::cuda::getCurrentCUDAStream());
  finish_step(prepared);
}

namespace {
at::Tensor workspace(const PreparedSelect& in, const at::Device& device) {
  const size_t bytes = select_cuda_workspace_bytes(in.sources.data(), static_cast<int64_t>(in.sources.size()));
  return at::empty({static_cast<int64_t>(bytes)}, at::TensorOptions().dtype(at::kByte).device(device));
}
}  // namespace

SelectResult cuda_select_kth(const PreparedSelect& in, const RankRequest& rank, const at::Device& device) {
  const c10::cuda::CUDAGuard guard(device);
  at::Tensor ws = workspace(in, device);
  return select_kth_cuda(in.sources.data(), static_cast<int64_t>(in.sources.size()), rank, ws.data_ptr(),
                         at::cuda::getCurrentCUDAStream());
}

void cuda_prune(const PreparedSelect& in, const SelectResult& r, const std::vector<at::Tensor>& out,
                const at::Device& device) {
  const c10::cuda::CUDAGuard guard(device);
  at::Tensor ws = workspace(in, device);
  std::vector<uint8_t*> ptrs;
  for (const at::Tensor& t : out) ptrs.push_back(reinterpret_cast<uint8_t*>(t.data_ptr<bool>()));
  prune_cuda(in.sources.data(), static_cast<int64_t>(in.sources.size()), r, ptrs.data(), ws.data_ptr(),
             at::cuda::getCurrentCUDAStream());
}

}  // namespace lf
