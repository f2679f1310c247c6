// The per-element math of each optimizer, written once for every backend: F is `float` on the
// CUDA and portable CPU paths and a 16-lane SIMD vector on the AVX-512 path. The formulas follow
// torch.optim's single-tensor implementations operation by operation (same order, same rounding
// points in float32), so results match torch.optim.Adam / RMSprop to the last few ulps.
// Torch-free.
#pragma once
#include <cmath>

#include "macros.h"
#include "types.h"

LF_NS_BEGIN

LF_HD float lf_sqrt(float x) {
#if defined(__CUDA_ARCH__)
  return __fsqrt_rn(x);
#else
  return std::sqrt(x);
#endif
}

// torch.lerp(a, b, w) as ATen computes it for a scalar weight.
template <class F>
LF_HD F lerp(F a, F b, float w) {
  return (w < 0.5f && w > -0.5f) ? a + F(w) * (b - a) : b - (b - a) * F(1.0f - w);
}

// Gradient after maximize and (coupled) weight decay, as torch adds them.
template <class F>
LF_HD F effective_grad(F p, F g, const OptimHyper& h) {
  if (h.maximize) g = F(0.0f) - g;
  if (h.weight_decay != 0.0f) g = g + F(h.weight_decay) * p;
  return g;
}

// Adam (torch.optim.Adam, amsgrad=False). State: exp_avg, exp_avg_sq.
struct AdamFunctor {
  static constexpr int kStates = 2;
  template <class F>
  LF_HD static F update(F p, F g, F (&s)[kStates], const OptimHyper& h, const TensorSlot& t) {
    g = effective_grad(p, g, h);
    const F m = lerp(s[0], g, h.one_minus_beta1);
    const F v = s[1] * F(h.beta2) + F(h.one_minus_beta2) * g * g;
    s[0] = m;
    s[1] = v;
    // torch divides by the scalar sqrt(bias_correction2) as a multiply by its float reciprocal.
    const F denom = lf_sqrt(v) * F(t.inv_bc2_sqrt) + F(h.eps);
    return p + F(-t.step_size) * m / denom;
  }
};

// RMSprop (torch.optim.RMSprop). State: square_avg [, momentum_buffer] [, grad_avg].
template <bool kMomentum, bool kCentered>
struct RMSpropFunctor {
  static constexpr int kStates = 1 + (kMomentum ? 1 : 0) + (kCentered ? 1 : 0);
  static constexpr int kBuf = 1;
  static constexpr int kGradAvg = kMomentum ? 2 : 1;
  template <class F>
  LF_HD static F update(F p, F g, F (&s)[kStates], const OptimHyper& h, const TensorSlot&) {
    g = effective_grad(p, g, h);
    const F sq = s[0] * F(h.alpha) + F(h.one_minus_alpha) * g * g;
    s[0] = sq;
    F avg;
    if constexpr (kCentered) {
      const F ga = lerp(s[kGradAvg], g, h.one_minus_alpha);
      s[kGradAvg] = ga;
      avg = lf_sqrt(sq + F(-1.0f) * ga * ga);
    } else {
      avg = lf_sqrt(sq);
    }
    avg = avg + F(h.eps);
    if constexpr (kMomentum) {
      const F buf = s[kBuf] * F(h.momentum) + F(1.0f) * g / avg;
      s[kBuf] = buf;
      return p + F(-h.lr) * buf;
    } else {
      return p + F(-h.lr) * g / avg;
    }
  }
};

// Calls f.template operator()<Functor>() with the functor selected at run time.
template <class Visitor>
void visit_functor(Algo algo, const OptimHyper& h, Visitor&& f) {
  const bool momentum = h.momentum > 0.0f, centered = h.centered;
  if (algo == Algo::Adam) return f.template operator()<AdamFunctor>();
  if (momentum && centered) return f.template operator()<RMSpropFunctor<true, true>>();
  if (momentum) return f.template operator()<RMSpropFunctor<true, false>>();
  if (centered) return f.template operator()<RMSpropFunctor<false, true>>();
  return f.template operator()<RMSpropFunctor<false, false>>();
}

LF_NS_END
