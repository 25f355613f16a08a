// The thin products' kernels (thin_product_kernels.hpp). A^T B: 4 x 4 blocks
// of C, each a register tile of 16 vector accumulators over the rows, so that
// every loaded vector of A and B feeds four fused multiply-adds. A W: R
// vectors of rows times 4 columns of W, so that every broadcast of W feeds R.
// Columns past m (n) repeat the last one: their sums are formed and dropped.
#include "lora/common/thin_product_kernels.hpp"

#include <algorithm>
#include <cstddef>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "lora/common/thin_product_kernels.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace lorafgc::lora::detail {
namespace HWY_NAMESPACE {

namespace hn = hwy::HWY_NAMESPACE;

template <class T>
void cross_block(const T* A, int m, const T* B, int n, std::ptrdiff_t L, int j, int l, double* C) {
  const hn::ScalableTag<T> d;
  const std::ptrdiff_t N = static_cast<std::ptrdiff_t>(hn::Lanes(d)), body = L - L % N;
  const T *a[4], *b[4];
  for (int t = 0; t < 4; ++t) a[t] = A + std::min(j + t, m - 1) * L, b[t] = B + std::min(l + t, n - 1) * L;
  using V = hn::Vec<decltype(d)>;
  V c[4][4];
  for (auto& row : c)
    for (V& v : row) v = hn::Zero(d);
  for (std::ptrdiff_t i = 0; i < body; i += N) {
    const V b0 = hn::LoadU(d, b[0] + i), b1 = hn::LoadU(d, b[1] + i), b2 = hn::LoadU(d, b[2] + i),
            b3 = hn::LoadU(d, b[3] + i);
    for (int s = 0; s < 4; ++s) {
      const V x = hn::LoadU(d, a[s] + i);
      c[s][0] = hn::MulAdd(x, b0, c[s][0]), c[s][1] = hn::MulAdd(x, b1, c[s][1]);
      c[s][2] = hn::MulAdd(x, b2, c[s][2]), c[s][3] = hn::MulAdd(x, b3, c[s][3]);
    }
  }
  for (int s = 0; s < 4 && j + s < m; ++s)
    for (int t = 0; t < 4 && l + t < n; ++t) {
      double sum = static_cast<double>(hn::GetLane(hn::SumOfLanes(d, c[s][t])));
      for (std::ptrdiff_t i = body; i < L; ++i) sum += static_cast<double>(a[s][i]) * b[t][i];
      C[(j + s) + static_cast<std::ptrdiff_t>(l + t) * m] = sum;
    }
}

template <class T>
void cross(const T* A, int m, const T* B, int n, std::ptrdiff_t L, double* C) {
  for (int l = 0; l < n; l += 4)
    for (int j = 0; j < m; j += 4) cross_block(A, m, B, n, L, j, l, C);
}

// Rows [i, i + R N) of C's columns j .. j + 3.
template <int R, class T>
void times_rows(const T* A, int k, const T* W, int n, std::ptrdiff_t L, int j, std::ptrdiff_t i, T* C) {
  const hn::ScalableTag<T> d;
  const std::ptrdiff_t N = static_cast<std::ptrdiff_t>(hn::Lanes(d));
  const T* w[4];
  for (int t = 0; t < 4; ++t) w[t] = W + static_cast<std::ptrdiff_t>(std::min(j + t, n - 1)) * k;
  using V = hn::Vec<decltype(d)>;
  V c[R][4];
  for (auto& row : c)
    for (V& v : row) v = hn::Zero(d);
  for (int a = 0; a < k; ++a) {
    const V w0 = hn::Set(d, w[0][a]), w1 = hn::Set(d, w[1][a]), w2 = hn::Set(d, w[2][a]), w3 = hn::Set(d, w[3][a]);
    for (int r = 0; r < R; ++r) {
      const V x = hn::LoadU(d, A + a * L + i + r * N);
      c[r][0] = hn::MulAdd(x, w0, c[r][0]), c[r][1] = hn::MulAdd(x, w1, c[r][1]);
      c[r][2] = hn::MulAdd(x, w2, c[r][2]), c[r][3] = hn::MulAdd(x, w3, c[r][3]);
    }
  }
  for (int t = 0; t < 4 && j + t < n; ++t)
    for (int r = 0; r < R; ++r) hn::StoreU(c[r][t], d, C + (j + t) * L + i + r * N);
}

template <class T>
void times_small(const T* A, int k, const T* W, int n, std::ptrdiff_t L, T* C) {
  const hn::ScalableTag<T> d;
  const std::ptrdiff_t N = static_cast<std::ptrdiff_t>(hn::Lanes(d));
  std::ptrdiff_t i = 0;
  // Four vectors of rows where 32 registers hold their 16 sums (AVX-512; at
  // d = 16, L = 2048 on Zen 5 the queries took 8 us, two vectors 10, BLAS 18).
  constexpr int R = HWY_MAX_BYTES >= 64 ? 4 : 2;
  for (; i + R * N <= L; i += R * N)
    for (int j = 0; j < n; j += 4) times_rows<R>(A, k, W, n, L, j, i, C);
  for (; i + N <= L; i += N)
    for (int j = 0; j < n; j += 4) times_rows<1>(A, k, W, n, L, j, i, C);
  for (int j = 0; j < n; ++j)
    for (std::ptrdiff_t r = i; r < L; ++r) {
      T sum = 0;
      for (int a = 0; a < k; ++a) sum += A[a * L + r] * W[a + static_cast<std::ptrdiff_t>(j) * k];
      C[j * L + r] = sum;
    }
}

void cross_float(const float* A, int m, const float* B, int n, std::ptrdiff_t L, double* C) { cross(A, m, B, n, L, C); }
void cross_double(const double* A, int m, const double* B, int n, std::ptrdiff_t L, double* C) {
  cross(A, m, B, n, L, C);
}

void times_small_float(const float* A, int k, const float* W, int n, std::ptrdiff_t L, float* C) {
  times_small(A, k, W, n, L, C);
}
void times_small_double(const double* A, int k, const double* W, int n, std::ptrdiff_t L, double* C) {
  times_small(A, k, W, n, L, C);
}

}  // namespace HWY_NAMESPACE
}  // namespace lorafgc::lora::detail
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lorafgc::lora::detail {

HWY_EXPORT(cross_float);
HWY_EXPORT(cross_double);
HWY_EXPORT(times_small_float);
HWY_EXPORT(times_small_double);

void thin_cross_kernel(const float* A, int m, const float* B, int n, std::ptrdiff_t L, double* C) {
  HWY_DYNAMIC_DISPATCH(cross_float)(A, m, B, n, L, C);
}
void thin_cross_kernel(const double* A, int m, const double* B, int n, std::ptrdiff_t L, double* C) {
  HWY_DYNAMIC_DISPATCH(cross_double)(A, m, B, n, L, C);
}

void thin_times_small_kernel(const float* A, int k, const float* W, int n, std::ptrdiff_t L, float* C) {
  HWY_DYNAMIC_DISPATCH(times_small_float)(A, k, W, n, L, C);
}
void thin_times_small_kernel(const double* A, int k, const double* W, int n, std::ptrdiff_t L, double* C) {
  HWY_DYNAMIC_DISPATCH(times_small_double)(A, k, W, n, L, C);
}

}  // namespace lorafgc::lora::detail
#endif
