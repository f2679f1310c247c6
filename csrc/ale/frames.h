// Frame preprocessing of the actor pool, from ALE's screen of palette indices: grayscale through a
// 256-entry table, the max of the last two frames, and the 210x160 -> 105x80 halving (2 x 2 block
// means, rounded half to even like OpenCV's INTER_AREA). One pass, no intermediate gray screens;
// AVX-512 VBMI (64 table lookups per instruction) where the CPU has it, scalar otherwise.
// Torch-free and ALE-free.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>

namespace lf::atari::frames {

constexpr int kScreenH = 210, kScreenW = 160, kScreenSize = kScreenH * kScreenW;
using GrayLut = std::array<uint8_t, 256>;

// dst[i] = lut[a[i]], or max(lut[a[i]], lut[b[i]]) when b is not null; n values.
void to_gray(const uint8_t* a, const uint8_t* b, const GrayLut& lut, uint8_t* dst, size_t n);

// A 210x160 screen of indices (a, and b for the max of two frames, or null) -> 105x80 gray.
void halve(const uint8_t* a, const uint8_t* b, const GrayLut& lut, uint8_t* dst);

// Whether the vector paths run (the CPU has AVX-512 BW, VL and VBMI and they are not switched off);
// set_simd(false) forces the scalar paths, so tests can compare the two.
bool simd_active();
void set_simd(bool enabled);

}  // namespace lf::atari::frames
