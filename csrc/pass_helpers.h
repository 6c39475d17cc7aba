/*
 * Per-pass helpers, included inside a family's template pass (multiarch.h), so
 * each SIMD level and dtype gets its own copy under its own name. No include
 * guard on purpose.
 */
#include "simd_math.h"

#undef LOSSK_EXP
#undef LOSSK_LOG
#undef LOSSK_LOG1P
#undef LOSSK_LOG_NORMAL
#undef LOSSK_EXP_NONPOSITIVE
#undef LOSSK_ABS
#if LOSSK_F64
#  define LOSSK_EXP lossk_exp
#  define LOSSK_LOG lossk_log
#  define LOSSK_LOG1P lossk_log1p
#  define LOSSK_LOG_NORMAL lossk_log_normal
#  define LOSSK_EXP_NONPOSITIVE lossk_exp_nonpositive
#  define LOSSK_ABS fabs
#else
#  define LOSSK_EXP lossk_expf
#  define LOSSK_LOG lossk_logf
#  define LOSSK_LOG1P lossk_log1pf
#  define LOSSK_LOG_NORMAL lossk_logf_normal
#  define LOSSK_EXP_NONPOSITIVE lossk_expf_nonpositive
#  define LOSSK_ABS fabsf
#endif

/* Sum of v[0..n) in LOSSK_LANES independent accumulators (so the loop
   vectorizes without reassociation), lanes then tail added in a fixed order:
   the result depends on n only, never on the SIMD level. */
static inline double LOSSK_FN(lane_sum)(const real *LOSSK_RESTRICT v, int64_t n) {
    real acc[LOSSK_LANES];
    for (int l = 0; l < LOSSK_LANES; l++) acc[l] = 0;
    int64_t i = 0;
    for (; i + LOSSK_LANES <= n; i += LOSSK_LANES)
        for (int l = 0; l < LOSSK_LANES; l++) acc[l] += v[i + l];
    double s = 0.0;
    for (int l = 0; l < LOSSK_LANES; l++) s += (double)acc[l];
    for (; i < n; i++) s += (double)v[i];
    return s;
}

/* Sum of w[i] * (x[i] - shift) (w NULL: weights 1), lane-accumulated as above. */
static inline double LOSSK_FN(lane_wsum_shifted)(const real *LOSSK_RESTRICT x,
                                                  const real *LOSSK_RESTRICT w,
                                                  real shift, int64_t n) {
    real acc[LOSSK_LANES];
    for (int l = 0; l < LOSSK_LANES; l++) acc[l] = 0;
    int64_t i = 0;
    if (w) {
        for (; i + LOSSK_LANES <= n; i += LOSSK_LANES)
            for (int l = 0; l < LOSSK_LANES; l++) acc[l] += w[i + l] * (x[i + l] - shift);
    } else {
        for (; i + LOSSK_LANES <= n; i += LOSSK_LANES)
            for (int l = 0; l < LOSSK_LANES; l++) acc[l] += x[i + l] - shift;
    }
    double s = 0.0;
    for (int l = 0; l < LOSSK_LANES; l++) s += (double)acc[l];
    for (; i < n; i++) s += (double)((w ? w[i] : (real)1) * (x[i] - shift));
    return s;
}

/* max of v[0..n), n >= 1; NaN may or may not win, callers let NaN flow
   through the following sums instead. */
static inline real LOSSK_FN(lane_max)(const real *LOSSK_RESTRICT v, int64_t n) {
    real acc[LOSSK_LANES];
    for (int l = 0; l < LOSSK_LANES; l++) acc[l] = v[0];
    int64_t i = 0;
    for (; i + LOSSK_LANES <= n; i += LOSSK_LANES)
        for (int l = 0; l < LOSSK_LANES; l++) acc[l] = v[i + l] > acc[l] ? v[i + l] : acc[l];
    real m = acc[0];
    for (int l = 1; l < LOSSK_LANES; l++) m = acc[l] > m ? acc[l] : m;
    for (; i < n; i++) m = v[i] > m ? v[i] : m;
    return m;
}

/* dst[0..n) = src[0..n) with non-temporal stores on the aligned body (the
   output then bypasses the caches instead of evicting the working set and
   paying a read-for-ownership). Callers fence once when done (stream_fence). */
static inline void LOSSK_FN(stream_copy)(real *LOSSK_RESTRICT dst,
                                         const real *LOSSK_RESTRICT src, int64_t n) {
#if LOSSK_MULTIARCH
    int64_t i = 0;
    while (i < n && ((uintptr_t)(dst + i) & 63u) != 0) { dst[i] = src[i]; i++; }
#  if LOSSK_LEVEL == 2
#    if LOSSK_F64
    for (; i + 8 <= n; i += 8) _mm512_stream_pd(dst + i, _mm512_loadu_pd(src + i));
#    else
    for (; i + 16 <= n; i += 16) _mm512_stream_ps(dst + i, _mm512_loadu_ps(src + i));
#    endif
#  elif LOSSK_LEVEL == 1
#    if LOSSK_F64
    for (; i + 4 <= n; i += 4) _mm256_stream_pd(dst + i, _mm256_loadu_pd(src + i));
#    else
    for (; i + 8 <= n; i += 8) _mm256_stream_ps(dst + i, _mm256_loadu_ps(src + i));
#    endif
#  else
#    if LOSSK_F64
    for (; i + 2 <= n; i += 2) _mm_stream_pd(dst + i, _mm_loadu_pd(src + i));
#    else
    for (; i + 4 <= n; i += 4) _mm_stream_ps(dst + i, _mm_loadu_ps(src + i));
#    endif
#  endif
    for (; i < n; i++) dst[i] = src[i];
#else
    memcpy(dst, src, (size_t)n * sizeof(real));
#endif
}

#ifndef LOSSK_STREAM_FENCE_DEFINED
#define LOSSK_STREAM_FENCE_DEFINED
/* Orders the non-temporal stores before the data is used by another thread. */
static inline void lossk__stream_fence(void) {
#if LOSSK_MULTIARCH
    _mm_sfence();
#endif
}
#endif
