// Portable qualifiers shared by the CPU and CUDA kernels. Torch-free.
#pragma once

#if defined(__CUDACC__)
#define LF_HD __host__ __device__ __forceinline__
#else
#define LF_HD inline __attribute__((always_inline))
#endif

// Every header under common/ opens its namespace through LF_NS_BEGIN so that a translation unit
// compiled for another instruction set (cpu/optim_avx512.cpp) gets its own copies of the inline
// functions: otherwise the linker could keep an AVX-512 copy and call it on a CPU without AVX-512.
#ifndef LF_ISA_NS
#define LF_ISA_NS generic
#endif
#define LF_NS_BEGIN namespace lf { inline namespace LF_ISA_NS {
#define LF_NS_END } }
