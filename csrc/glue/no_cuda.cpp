// Stand-ins for the CUDA ops in a build without CUDA (a CPU-only torch): a clear error.
#include "cuda_ops.h"

namespace lf {

bool built_with_cuda() { return false; }

namespace {
[[noreturn]] void no_cuda() {
  TORCH_CHECK(false, "lotteryfast was built without CUDA (the installed torch has no CUDA); rebuild it against a CUDA torch");
}
}  // namespace

void cuda_masked_step(const StepArgs&) { no_cuda(); }
SelectResult cuda_select_kth(const PreparedSelect&, const RankRequest&, const at::Device&) { no_cuda(); }
void cuda_prune(const PreparedSelect&, const SelectResult&, const std::vector<at::Tensor>&, const at::Device&) { no_cuda(); }

}  // namespace lf
