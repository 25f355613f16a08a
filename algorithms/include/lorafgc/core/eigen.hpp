#pragma once
// The one place the project includes Eigen from. GCC 12's AVX-512 intrinsics
// (_mm512_extractf64x4_pd and friends build their result from
// _mm256_undefined_pd(), a self-initialised variable) trip -Wmaybe-uninitialized
// wherever Eigen inlines them: about a thousand false warnings per build on an
// AVX-512 machine (GCC PR 105593, fixed in GCC 13). A middle-end warning obeys
// the diagnostic state at the line it points to, here inside <immintrin.h>, so
// including the intrinsics for the first time between push and pop silences
// exactly those lines and leaves the warning on for the project's own code.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#include <Eigen/Dense>
#pragma GCC diagnostic pop
