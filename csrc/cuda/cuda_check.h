// Error checking for the torch-free CUDA code: failures become std::runtime_error.
#pragma once
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace lf {

inline void cuda_check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw std::runtime_error(std::string("lotteryfast CUDA error in ") + what + ": " + cudaGetErrorString(err));
}

}  // namespace lf
