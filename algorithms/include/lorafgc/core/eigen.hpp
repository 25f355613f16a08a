#pragma once
// The one place the project includes Eigen from. GCC 12's AVX-512 intrinsics
// (_mm512_extractf64x4_pd, _mm512_rsqrt14_pd and friends build their result
// from _mm256_undefined_pd() and the like, a self-initialised variable) trip
// -Wmaybe-uninitialized and -Wuninitialized wherever Eigen inlines them:
// about a thousand false warnings per build on an AVX-512 machine (GCC PR
// 105593, fixed in GCC 13). A middle-end warning obeys
// the diagnostic state at the line it points to, here inside <immintrin.h>, so
// including the intrinsics for the first time between push and pop silences
// exactly those lines and leaves the warning on for the project's own code.
// (clang, used for the fuzz targets, has no such false positive.)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#include <Eigen/Dense>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
