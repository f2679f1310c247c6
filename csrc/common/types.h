// Plain-data descriptions of the work handed from the torch glue to the kernels. Torch-free.
#pragma once
#include <cstdint>

namespace lf {

// Element types the kernels understand (the glue maps torch dtypes onto these).
enum class DType : int32_t { F32 = 0, F16 = 1, BF16 = 2, F64 = 3 };

enum class Algo : int32_t { Adam = 0, RMSprop = 1 };

// Hyper-parameters of one optimizer call (one param group, one device, one dtype).
// Values such as 1 - beta are computed in double on the host, as torch.optim does, then rounded.
struct OptimHyper {
  float lr;
  float beta1, one_minus_beta1, beta2, one_minus_beta2;  // Adam
  float alpha, one_minus_alpha, momentum;                // RMSprop
  float eps, weight_decay;
  bool maximize;
  bool centered;  // RMSprop
};

// One parameter tensor of an optimizer step: contiguous p and g, up to three state tensors.
// Masked tensors (bits != nullptr) keep their state compacted: state[k][j] belongs to the j-th
// unpruned element in row-major order. bits: bit i%32 of word i/32 is element i's mask, four
// words per group of 128 elements (padding bits 0); group_base[i/128]: number of unpruned
// elements before element 128*(i/128).
struct TensorSlot {
  void* p;
  const void* g;
  void* state[3];
  const uint32_t* bits;
  const int64_t* group_base;
  int64_t n;
  float step_size;  // Adam: lr / (1 - beta1^step)
  float inv_bc2_sqrt;  // Adam: 1 / sqrt(1 - beta2^step), in float32 as torch's division by a scalar
};

constexpr int64_t kMaskGroup = 128;  // elements per group_base entry

// One tensor taking part in a global magnitude selection.
struct SelectSource {
  const void* data;     // contiguous values
  const uint8_t* mask;  // bool per element (true = unpruned), or nullptr = all unpruned
  int64_t n;
  DType dtype;
};

}  // namespace lf
