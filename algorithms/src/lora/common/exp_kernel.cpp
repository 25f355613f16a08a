// vector_exp (exp_kernel.hpp), compiled per x86 target by Highway's
// foreach_target like the fused kernel, so the calibrated exp rate is the one
// that kernel's exponentials run at.
#include "lora/common/exp_kernel.hpp"

#include <cmath>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "lora/common/exp_kernel.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>

HWY_BEFORE_NAMESPACE();
namespace lorafgc::lora::detail {
namespace HWY_NAMESPACE {

namespace hn = hwy::HWY_NAMESPACE;

template <class T>
void exp_span(const T* x, T* out, std::size_t n) {
  const hn::ScalableTag<T> d;
  const std::size_t N = hn::Lanes(d);
  std::size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Exp(d, hn::LoadU(d, x + i)), d, out + i);
  for (; i < n; ++i) out[i] = std::exp(x[i]);  // Highway 1.0 has no partial load
}

void exp_float(const float* x, float* out, std::size_t n) { exp_span(x, out, n); }
void exp_double(const double* x, double* out, std::size_t n) { exp_span(x, out, n); }

}  // namespace HWY_NAMESPACE
}  // namespace lorafgc::lora::detail
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lorafgc::lora::detail {

HWY_EXPORT(exp_float);
HWY_EXPORT(exp_double);

void vector_exp(const float* x, float* out, std::size_t n) { HWY_DYNAMIC_DISPATCH(exp_float)(x, out, n); }
void vector_exp(const double* x, double* out, std::size_t n) { HWY_DYNAMIC_DISPATCH(exp_double)(x, out, n); }

}  // namespace lorafgc::lora::detail
#endif
