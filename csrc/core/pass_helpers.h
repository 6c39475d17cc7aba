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

/* the pass that gets the hand-written AVX-512 float kernels */
#undef LOSSK_AVX512_F32
#define LOSSK_AVX512_F32 (LOSSK_MULTIARCH && LOSSK_LEVEL == 2 && !LOSSK_F64)

/* the pass that gets the hand-written AVX2 float kernels (softmax.c) */
#undef LOSSK_AVX2_F32
#define LOSSK_AVX2_F32 (LOSSK_MULTIARCH && LOSSK_LEVEL == 1 && !LOSSK_F64)

#undef LOSSK_VREAL
#undef LOSSK_VMASK
#if LOSSK_F64
#  define LOSSK_VREAL lossk_v8df
#  define LOSSK_VMASK lossk_v8di
#else
#  define LOSSK_VREAL lossk_v16sf
#  define LOSSK_VMASK lossk_v16si
#endif

/* The lane helpers below accumulate in LOSSK_LANES independent lanes (so the
   loop vectorizes without reassociation), then add lanes and tail in a fixed
   order: the result depends on n only, never on the SIMD level. */
#if LOSSK_VECTOR_EXT
LOSSK_INLINE LOSSK_VREAL LOSSK_FN(vload)(const real *p) {
    LOSSK_VREAL v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* lane-wise max(a, b); a NaN in b loses. x86's maxps(b, a) is b > a ? b : a
   exactly (a NaN, and the second of two zeros, give a); GCC compiles the
   generic select to a compare into a mask and a blend (AVX-512) instead:
   cross-entropy's 1000-class rows, in cache, took 22 % longer on Zen 4. */
LOSSK_INLINE LOSSK_VREAL LOSSK_FN(vmax)(LOSSK_VREAL a, LOSSK_VREAL b) {
#if LOSSK_MULTIARCH && LOSSK_LEVEL == 2
    return LOSSK_F64 ? (LOSSK_VREAL)_mm512_max_pd((__m512d)b, (__m512d)a)
                     : (LOSSK_VREAL)_mm512_max_ps((__m512)b, (__m512)a);
#elif LOSSK_MULTIARCH && LOSSK_LEVEL == 1
    __m256 ha[2], hb[2];
    memcpy(ha, &a, sizeof ha);
    memcpy(hb, &b, sizeof hb);
    for (int j = 0; j < 2; j++)
        ha[j] = LOSSK_F64 ? _mm256_castpd_ps(_mm256_max_pd(_mm256_castps_pd(hb[j]), _mm256_castps_pd(ha[j])))
                          : _mm256_max_ps(hb[j], ha[j]);
    memcpy(&a, ha, sizeof a);
    return a;
#else
    LOSSK_VMASK gt = b > a;                          /* all ones where b wins */
    return (LOSSK_VREAL)(((LOSSK_VMASK)b & gt) | ((LOSSK_VMASK)a & ~gt));
#endif
}

LOSSK_INLINE double LOSSK_FN(vsum)(LOSSK_VREAL acc) {
    double s = 0.0;
    for (int l = 0; l < LOSSK_LANES; l++) s += (double)acc[l];
    return s;
}
#endif

/* Sum of v[0..n). */
static inline double LOSSK_FN(lane_sum)(const real *LOSSK_RESTRICT v, int64_t n) {
    int64_t i = 0;
    double s;
#if LOSSK_VECTOR_EXT
    /* four accumulators: a single chain would wait on the add latency */
    LOSSK_VREAL a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    for (; i + 4 * LOSSK_LANES <= n; i += 4 * LOSSK_LANES) {
        a0 += LOSSK_FN(vload)(v + i);
        a1 += LOSSK_FN(vload)(v + i + LOSSK_LANES);
        a2 += LOSSK_FN(vload)(v + i + 2 * LOSSK_LANES);
        a3 += LOSSK_FN(vload)(v + i + 3 * LOSSK_LANES);
    }
    for (; i + LOSSK_LANES <= n; i += LOSSK_LANES) a0 += LOSSK_FN(vload)(v + i);
    s = LOSSK_FN(vsum)((a0 + a1) + (a2 + a3));
#else
    real acc[LOSSK_LANES] = {0};
    for (; i + LOSSK_LANES <= n; i += LOSSK_LANES)
        for (int l = 0; l < LOSSK_LANES; l++) acc[l] += v[i + l];
    s = 0.0;
    for (int l = 0; l < LOSSK_LANES; l++) s += (double)acc[l];
#endif
    for (; i < n; i++) s += (double)v[i];
    return s;
}

#if LOSSK_AVX512_F32 && !defined(LOSSK_ROTATE16_DEFINED)
#define LOSSK_ROTATE16_DEFINED
/* rot[j] = acc[(lane0 + j) mod 16] and back (0 <= lane0 < 16): a block's
   16 lanes in the order of a chunk at offset lane0 (mod 16) in the block,
   as two vectors of doubles can add them. Copies, not a loop of indices,
   which gcc turned into gathers. */
LOSSK_INLINE void lossk__rotate16(double rot[16], const double acc[16], int64_t lane0) {
    memcpy(rot, acc + lane0, (size_t)(16 - lane0) * sizeof(double));
    memcpy(rot + 16 - lane0, acc, (size_t)lane0 * sizeof(double));
}

LOSSK_INLINE void lossk__unrotate16(double acc[16], const double rot[16], int64_t lane0) {
    memcpy(acc + lane0, rot, (size_t)(16 - lane0) * sizeof(double));
    memcpy(acc, rot + 16 - lane0, (size_t)lane0 * sizeof(double));
}

/* sum[0..1] (16 double lanes) += v[0..16): converted straight from memory,
   which was faster than a load and an extract of the upper half. */
LOSSK_INLINE void lossk__add16_pd(__m512d sum[2], const float *v) {
    sum[0] = _mm512_add_pd(sum[0], _mm512_cvtps_pd(_mm256_loadu_ps(v)));
    sum[1] = _mm512_add_pd(sum[1], _mm512_cvtps_pd(_mm256_loadu_ps(v + 8)));
}
#endif

/* acc[(lane0 + k) mod LOSSK_LANES] += v[k]: one chunk of losses into the
   block's lanes, lane0 being the chunk's offset in the block, so that each
   lane sums the same elements in the same order however the block is cut
   into chunks. */
static inline void LOSSK_FN(chunk_lane_sum)(const real *LOSSK_RESTRICT v, int64_t len,
                                            double *LOSSK_RESTRICT acc, int64_t lane0) {
    int64_t k = 0;
#if LOSSK_AVX512_F32
    double rot[16];
    lossk__rotate16(rot, acc, lane0);
    __m512d sum[2] = {_mm512_loadu_pd(rot), _mm512_loadu_pd(rot + 8)};
    for (; k + 16 <= len; k += 16) lossk__add16_pd(sum, v + k);
    _mm512_storeu_pd(rot, sum[0]);
    _mm512_storeu_pd(rot + 8, sum[1]);
    lossk__unrotate16(acc, rot, lane0);
#else
    for (; k < len && (lane0 + k) % LOSSK_LANES != 0; k++) acc[(lane0 + k) % LOSSK_LANES] += (double)v[k];
    for (; k + LOSSK_LANES <= len; k += LOSSK_LANES)
        for (int j = 0; j < LOSSK_LANES; j++) acc[j] += (double)v[k + j];
#endif
    for (; k < len; k++) acc[(lane0 + k) % LOSSK_LANES] += (double)v[k];
}

/* c * v, but 0 where c == 0 even for an infinite (or NaN) v: the limit of
   a product whose factor c vanishes, not inf * 0 = NaN (the reference's
   _times). A select: it vectorizes. */
LOSSK_INLINE real LOSSK_FN(times)(real c, real v) {
    return c == 0 ? (real)0 : c * v;
}

/* w * (x - shift), but 0 where x == shift even for an infinite w: the
   callers add w * (lse - shift) back, so an infinite class weight at the
   maximum gives the limit (inf) instead of inf * 0 = NaN. */
LOSSK_INLINE real LOSSK_FN(mul_shifted)(real w, real x, real shift) {
    return LOSSK_FN(times)(x - shift, w);
}

/* Sum of mul_shifted(w[i], x[i], shift) (w NULL: sum of x[i] - shift). */
static inline double LOSSK_FN(lane_wsum_shifted)(const real *LOSSK_RESTRICT x,
                                                  const real *LOSSK_RESTRICT w,
                                                  real shift, int64_t n) {
    int64_t i = 0;
    double s;
#if LOSSK_VECTOR_EXT
    LOSSK_VREAL acc = {0};
    if (w) {
        for (; i + LOSSK_LANES <= n; i += LOSSK_LANES) {
            const LOSSK_VREAL d = LOSSK_FN(vload)(x + i) - shift;
            acc += (LOSSK_VREAL)((LOSSK_VMASK)(LOSSK_FN(vload)(w + i) * d) & (d != 0));  /* mul_shifted */
        }
    } else {
        for (; i + LOSSK_LANES <= n; i += LOSSK_LANES) acc += LOSSK_FN(vload)(x + i) - shift;
    }
    s = LOSSK_FN(vsum)(acc);
#else
    real acc[LOSSK_LANES] = {0};
    for (; i + LOSSK_LANES <= n; i += LOSSK_LANES)
        for (int l = 0; l < LOSSK_LANES; l++) acc[l] += w ? LOSSK_FN(mul_shifted)(w[i + l], x[i + l], shift) : x[i + l] - shift;
    s = 0.0;
    for (int l = 0; l < LOSSK_LANES; l++) s += (double)acc[l];
#endif
    for (; i < n; i++) s += (double)(w ? LOSSK_FN(mul_shifted)(w[i], x[i], shift) : x[i] - shift);
    return s;
}

/* e[i] = exp(x[i] - shift) and their sum. e may be x itself (in place).
   AVX-512 and AVX2 float: after the vector helpers below. */
#if !LOSSK_AVX512_F32
#if !LOSSK_AVX2_F32
static inline double LOSSK_FN(exp_shifted_sum)(const real *x, real shift, real *e, int64_t n) {
    LOSSK_IVDEP
    for (int64_t i = 0; i < n; i++) e[i] = LOSSK_EXP(x[i] - shift);
    return LOSSK_FN(lane_sum)(e, n);
}
#endif

/* The column kernel's exps, positions side by side: s[i] += exp(x[i] - m[i])
   (x[i] <= m[i]), also stored to e[i] unless e is NULL; e may be x. */
static inline void LOSSK_FN(exp_shifted_cols)(const real *x, const real *m, real *s, real *e, int64_t n) {
    if (e) {
        for (int64_t i = 0; i < n; i++) {
            const real v = LOSSK_EXP(x[i] - m[i]);
            s[i] += v;
            e[i] = v;
        }
    } else {
        for (int64_t i = 0; i < n; i++) s[i] += LOSSK_EXP(x[i] - m[i]);
    }
}
#endif

#if LOSSK_AVX512_F32 && !defined(LOSSK_PAIR_HELPERS_DEFINED)
#define LOSSK_PAIR_HELPERS_DEFINED
/*
 * AVX-512 float building blocks of the pointwise logistic losses
 * (binary.c), which are bound by the FMA pipes, not by memory. They work on
 * pairs of vectors, stage by stage: two independent dependency chains side
 * by side keep the out-of-order window fed (Zen 4's 512-bit FMAs issue at
 * one per cycle).
 */
#define LOSSK_PAIR _Pragma("GCC unroll 2") for (int j = 0; j < 2; j++)

/* exp(x) for x <= 0: x = (16m + j) ln2/16 + r, |r| <= ln2/32 (the shifter
   1.5 * 2^23 rounds 16 x / ln2 to k = 16m + j, held in z's low bits);
   exp(r) = 1 + r + r^2/2 + r^3/6 (error r^4/24 < 1e-8) times 2^m 2^(j/16).
   That scale takes one integer add: the table holds the bits of 2^(j/16)
   minus j << 19, so adding k << 19 (z's bits << 19) leaves m in the
   exponent field. About 1 ulp, 7 FMAs instead of lossk_expf's 10. x is
   clamped at -87 so that the scale stays normal (the result is then 1.7e-38
   instead of smaller): callers route x below LOSSK_EXP512_X_MIN, NaN and
   inf to the scalar code. clamp = 0 skips the clamp for callers that
   discard every lane below the clamp (garbage there: the scale's exponent
   wraps). */
#define LOSSK_EXP512_X_MIN (-87.0f)
LOSSK_INLINE void lossk__exp512_table2(const __m512 x[2], __m512 e[2], const int clamp) {
    const __m512 tab = _mm512_setr_ps(1.000000000e+00f, 1.044273734e+00f, 1.090507746e+00f, 1.138788581e+00f,
                                      1.189207077e+00f, 1.241857767e+00f, 1.296839595e+00f, 1.354255557e+00f,
                                      1.414213538e+00f, 1.476826191e+00f, 1.542210817e+00f, 1.610490322e+00f,
                                      1.681792855e+00f, 1.756252170e+00f, 1.834008098e+00f, 1.915206552e+00f);
    const __m512i tab_k = _mm512_sub_epi32(
        _mm512_castps_si512(tab),
        _mm512_slli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), 19));
    const __m512 shifter = _mm512_set1_ps(12582912.0f);
    __m512 xc[2], z[2], k[2], r[2], sc[2], p[2];
    LOSSK_PAIR xc[j] = clamp ? _mm512_max_ps(_mm512_set1_ps(LOSSK_EXP512_X_MIN), x[j]) : x[j];
    LOSSK_PAIR z[j] = _mm512_fmadd_ps(xc[j], _mm512_set1_ps(16.0f * 1.44269504088896341f), shifter);
    LOSSK_PAIR k[j] = _mm512_sub_ps(z[j], shifter);
    /* ln2/16 in two parts (Cody-Waite): k * hi is exact */
    LOSSK_PAIR r[j] = _mm512_fnmadd_ps(k[j], _mm512_set1_ps(0.693359375f / 16), xc[j]);
    LOSSK_PAIR r[j] = _mm512_fnmadd_ps(k[j], _mm512_set1_ps(-2.12194440e-4f / 16), r[j]);
    LOSSK_PAIR sc[j] = _mm512_castsi512_ps(_mm512_add_epi32(_mm512_permutexvar_epi32(_mm512_castps_si512(z[j]), tab_k),
                                                            _mm512_slli_epi32(_mm512_castps_si512(z[j]), 19)));
    LOSSK_PAIR p[j] = _mm512_fmadd_ps(_mm512_set1_ps(1.0f / 6), r[j], _mm512_set1_ps(0.5f));
    LOSSK_PAIR p[j] = _mm512_fmadd_ps(p[j], r[j], _mm512_set1_ps(1.0f));
    LOSSK_PAIR e[j] = _mm512_fmadd_ps(_mm512_mul_ps(sc[j], r[j]), p[j], sc[j]);
}

/* lossk__exp512_table2 with 0 below its clamp (and for -inf) instead of
   the clamp's 1.7e-38; NaN stays NaN. */
LOSSK_INLINE void lossk__exp512_nonpos_flush2(const __m512 x[2], __m512 e[2]) {
    lossk__exp512_table2(x, e, 1);
    LOSSK_PAIR e[j] = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x[j], _mm512_set1_ps(LOSSK_EXP512_X_MIN), _CMP_NLT_UQ), e[j]);
}

/* log1p(e) for e in [0, 1]: lossk_log1pf_unit's polynomial. */
LOSSK_INLINE void lossk__log1p512_unit2(const __m512 e[2], __m512 out[2]) {
    __m512 q[2];
    LOSSK_PAIR q[j] = _mm512_set1_ps(lossk_log1pf_unit_q[0]);
    for (int i = 1; i < 8; i++) LOSSK_PAIR q[j] = _mm512_fmadd_ps(q[j], e[j], _mm512_set1_ps(lossk_log1pf_unit_q[i]));
    LOSSK_PAIR out[j] = _mm512_fmadd_ps(_mm512_mul_ps(e[j], e[j]), q[j], e[j]);
}

/* log(y) for y > 0, subnormal too, to about 1e-8 absolute near y = 1 and
   4e-8 elsewhere, plus the rounding of k ln2 (y = 0 gives NaN: k = -inf meets
   the +inf of its low part): y = 2^k f with f in [0.75, 1.5) (getmant, and
   k = getexp(y) - getexp(f), exact; both normalize subnormals), f = c (1 + w) with
   c = 1 + j/16 or (1 + j/16) / 2 from f's top mantissa bits, w in
   [0, 1/16), except c = 1 for f in [31/32, 1), w = f - 1 exact in [-1/32, 0):
   log y = k ln2 + log c + log1p(w), log1p(w) to degree 5 (error |w|^6/6 <
   1e-8). The table holds 1/c rounded and -log of that rounded value, so that
   w = f / c - 1 is one FMA and its rounding of 1/c costs nothing. Near 1
   nothing cancels: k = 0 and log c = 0 on both sides of 1 (with f in [1, 2)
   k ln2 + log c would lose 6e-8 just below 1, and with c = 31/32 there log c
   + log1p(w) lost the relative accuracy of log y: BCE's -log p at p = 1 -
   6e-7 was 65536 ulp off). log 1 = 0 exactly. For the exponent of a focal
   factor m^gamma (relative error gamma times the absolute error of log m),
   and for BCE's logs. */
LOSSK_INLINE void lossk__log512_2(const __m512 y[2], __m512 out[2]) {
    const __m512 inv_c = _mm512_setr_ps(1.000000000e+00f, 9.411764741e-01f, 8.888888955e-01f, 8.421052694e-01f,
                                        8.000000119e-01f, 7.619047761e-01f, 7.272727489e-01f, 6.956521869e-01f,
                                        1.333333373e+00f, 1.279999971e+00f, 1.230769277e+00f, 1.185185194e+00f,
                                        1.142857194e+00f, 1.103448272e+00f, 1.066666722e+00f, 1.0f);
    const __m512 log_c = _mm512_setr_ps(0.0f, 6.062461808e-02f, 1.177830249e-01f, 1.718502492e-01f,
                                        2.231435329e-01f, 2.719337046e-01f, 3.184536994e-01f, 3.629054725e-01f,
                                        -2.876821160e-01f, -2.468600571e-01f, -2.076393962e-01f, -1.698990464e-01f,
                                        -1.335314363e-01f, -9.844006598e-02f, -6.453857571e-02f, 0.0f);
    __m512 k[2], f[2], w[2], q[2];
    __m512i idx[2];
    LOSSK_PAIR f[j] = _mm512_getmant_ps(y[j], _MM_MANT_NORM_p75_1p5, _MM_MANT_SIGN_zero);
    LOSSK_PAIR k[j] = _mm512_sub_ps(_mm512_getexp_ps(y[j]), _mm512_getexp_ps(f[j]));
    LOSSK_PAIR idx[j] = _mm512_srli_epi32(_mm512_castps_si512(f[j]), 19);     /* vpermps reads bits 0-3 */
    LOSSK_PAIR w[j] = _mm512_fmsub_ps(f[j], _mm512_permutexvar_ps(idx[j], inv_c), _mm512_set1_ps(1.0f));
    LOSSK_PAIR q[j] = _mm512_fmadd_ps(_mm512_set1_ps(0.2f), w[j], _mm512_set1_ps(-0.25f));
    LOSSK_PAIR q[j] = _mm512_fmadd_ps(q[j], w[j], _mm512_set1_ps(1.0f / 3));
    LOSSK_PAIR q[j] = _mm512_fmadd_ps(q[j], w[j], _mm512_set1_ps(-0.5f));
    LOSSK_PAIR q[j] = _mm512_fmadd_ps(_mm512_mul_ps(w[j], w[j]), q[j], w[j]);
    /* k ln2 in two parts (k ln2_hi is exact), added last */
    LOSSK_PAIR q[j] = _mm512_add_ps(_mm512_permutexvar_ps(idx[j], log_c),
                                     _mm512_fmadd_ps(k[j], _mm512_set1_ps(-2.12194440e-4f), q[j]));
    LOSSK_PAIR out[j] = _mm512_fmadd_ps(k[j], _mm512_set1_ps(0.693359375f), q[j]);
}

/* The lanes j of a vector at element `start` with 0 <= start + j < len. */
LOSSK_INLINE __mmask16 lossk__lanes_in(int64_t start, int64_t len) {
    uint32_t m = 0xFFFFu;
    if (start < 0) m = start <= -16 ? 0u : m & (0xFFFFu << (-start));
    if (start + 16 > len) m = len <= start ? 0u : m & ((1u << (len - start)) - 1u);
    return (__mmask16)m;
}

/* The logistic terms of binary.c's logistic() on a pair of vectors:
   nax = -|x|, e = exp(-|x|), r = rnum / (1 + e) (rnum = 1, or a factor the
   caller folds into the division for free), log1p(e), and neg, the sign
   bits of x (x = -0 counts as negative here and as positive in logistic():
   both give the same terms at 0). Lanes with |x| > -LOSSK_EXP512_X_MIN
   come out wrong (no clamp: one operation fewer per vector); the callers
   redo them. */
LOSSK_INLINE void lossk__logistic512x2(const __m512 x[2], __m512 rnum, __m512 nax[2], __mmask16 neg[2],
                                       __m512 e[2], __m512 r[2], __m512 log1p_e[2]) {
    LOSSK_PAIR neg[j] = _mm512_movepi32_mask(_mm512_castps_si512(x[j]));
    LOSSK_PAIR nax[j] = _mm512_or_ps(x[j], _mm512_set1_ps(-0.0f));
    lossk__exp512_table2(nax, e, 0);
    LOSSK_PAIR r[j] = _mm512_div_ps(rnum, _mm512_add_ps(_mm512_set1_ps(1.0f), e[j]));
    lossk__log1p512_unit2(e, log1p_e);
}
#endif

#if LOSSK_AVX512_F32
/* The hottest loop of the softmax losses: the flushing table exp on pairs
   of vectors (x - shift <= 0), sum in two float accumulators; masked tail.
   Faster than a degree-7 polynomial with vroundscaleps and vscalefps. */
static inline double LOSSK_FN(exp_shifted_sum)(const real *x, real shift, real *e, int64_t n) {
    const __m512 m = _mm512_set1_ps(shift);
    /* The logits ahead come from DRAM while this chunk's exps are computed
       from cache. Distances as measured (benchmarks/recorded/
       2026-11-21-ce-prefetch.md): chunks of 768 logits and more, two chunks
       ahead into L2, in whole 4 KiB and at least 8 KiB; one chunk ahead, or
       into L1, was slower for one of the sizes. Shorter rows keep 16 KiB
       into L1. */
    const int l2 = n >= 768;
    const int64_t pf2 = (2 * n + 1023) & ~(int64_t)1023, pf = !l2 ? 4096 : pf2 < 2048 ? 2048 : pf2;
    __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int64_t i = 0; i < n; i += 32) {
        const int full = i + 32 <= n;
        __mmask16 k[2] = {0xFFFF, 0xFFFF};
        __m512 d[2], ev[2];
        if (full) {
            /* an address, not a pointer past the end of x: no access */
            const uintptr_t ahead = (uintptr_t)(x + i) + (uintptr_t)pf * sizeof(real);
            if (l2) {
                _mm_prefetch((const char *)ahead, _MM_HINT_T1);
                _mm_prefetch((const char *)(ahead + 64), _MM_HINT_T1);
            } else {
                _mm_prefetch((const char *)ahead, _MM_HINT_T0);
                _mm_prefetch((const char *)(ahead + 64), _MM_HINT_T0);
            }
            LOSSK_PAIR d[j] = _mm512_sub_ps(_mm512_loadu_ps(x + i + 16 * j), m);
        } else {
            LOSSK_PAIR k[j] = lossk__lanes_in(i + 16 * j, n);
            LOSSK_PAIR d[j] = _mm512_sub_ps(_mm512_maskz_loadu_ps(k[j], x + i + 16 * j), m);
        }
        lossk__exp512_nonpos_flush2(d, ev);
        if (full) LOSSK_PAIR _mm512_storeu_ps(e + i + 16 * j, ev[j]);
        else LOSSK_PAIR _mm512_mask_storeu_ps(e + i + 16 * j, k[j], ev[j]);
        LOSSK_PAIR acc[j] = _mm512_mask_add_ps(acc[j], k[j], acc[j], ev[j]);
    }
    /* the lanes in double, added as a tree (a chain of 16 adds cost 4 % of a
       1000-class row) */
    const __m512 a = _mm512_add_ps(acc[0], acc[1]);
    return _mm512_reduce_add_pd(_mm512_add_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(a)),
                                              _mm512_cvtps_pd(_mm512_extractf32x8_ps(a, 1))));
}

/* exp_shifted_cols with the table exp (see the generic version above) */
static inline void LOSSK_FN(exp_shifted_cols)(const real *x, const real *m, real *s, real *e, int64_t n) {
    for (int64_t i = 0; i < n; i += 32) {
        __mmask16 k[2];
        __m512 d[2], ev[2];
        LOSSK_PAIR k[j] = lossk__lanes_in(i + 16 * j, n);
        LOSSK_PAIR d[j] = _mm512_sub_ps(_mm512_maskz_loadu_ps(k[j], x + i + 16 * j),
                                        _mm512_maskz_loadu_ps(k[j], m + i + 16 * j));
        lossk__exp512_nonpos_flush2(d, ev);
        LOSSK_PAIR _mm512_mask_storeu_ps(s + i + 16 * j, k[j],
                                         _mm512_add_ps(_mm512_maskz_loadu_ps(k[j], s + i + 16 * j), ev[j]));
        if (e) LOSSK_PAIR _mm512_mask_storeu_ps(e + i + 16 * j, k[j], ev[j]);
    }
}
#endif

/* max of v[0..n), n >= 1. NaN is not guaranteed to win: callers let NaN flow
   through the sums that follow instead. */
static inline real LOSSK_FN(lane_max)(const real *LOSSK_RESTRICT v, int64_t n) {
    int64_t i = 0;
    real m = v[0];
#if LOSSK_VECTOR_EXT
    if (n >= LOSSK_LANES) {
        /* four independent chains (compare + blend latency), merged at the end */
        LOSSK_VREAL acc[4];
        for (int j = 0; j < 4; j++) acc[j] = LOSSK_FN(vload)(v);
        for (i = LOSSK_LANES; i + 4 * LOSSK_LANES <= n; i += 4 * LOSSK_LANES)
            for (int j = 0; j < 4; j++) acc[j] = LOSSK_FN(vmax)(acc[j], LOSSK_FN(vload)(v + i + j * LOSSK_LANES));
        for (; i + LOSSK_LANES <= n; i += LOSSK_LANES) acc[0] = LOSSK_FN(vmax)(acc[0], LOSSK_FN(vload)(v + i));
        acc[0] = LOSSK_FN(vmax)(LOSSK_FN(vmax)(acc[0], acc[1]), LOSSK_FN(vmax)(acc[2], acc[3]));
#if LOSSK_AVX512_F32
        m = _mm512_reduce_max_ps((__m512)acc[0]);   /* a tree, not a chain of 15 */
#else
        m = acc[0][0];
        for (int l = 1; l < LOSSK_LANES; l++) m = acc[0][l] > m ? acc[0][l] : m;
#endif
    }
#endif
    for (; i < n; i++) m = v[i] > m ? v[i] : m;
    return m;
}

#if LOSSK_MULTIARCH   /* implies LOSSK_VECTOR_EXT (GCC or Clang) */
/* A non-temporal store of one lane vector to 64-byte aligned p. */
LOSSK_INLINE void LOSSK_FN(vstream)(real *p, LOSSK_VREAL v) {
#  if LOSSK_LEVEL == 2 && LOSSK_F64
    _mm512_stream_pd(p, (__m512d)v);
#  elif LOSSK_LEVEL == 2
    _mm512_stream_ps(p, (__m512)v);
#  elif LOSSK_LEVEL == 1 && LOSSK_F64
    __m256d h[2];
    memcpy(h, &v, sizeof h);
    for (int j = 0; j < 2; j++) _mm256_stream_pd(p + 4 * j, h[j]);
#  elif LOSSK_LEVEL == 1
    __m256 h[2];
    memcpy(h, &v, sizeof h);
    for (int j = 0; j < 2; j++) _mm256_stream_ps(p + 8 * j, h[j]);
#  elif LOSSK_F64
    __m128d h[4];
    memcpy(h, &v, sizeof h);
    for (int j = 0; j < 4; j++) _mm_stream_pd(p + 2 * j, h[j]);
#  else
    __m128 h[4];
    memcpy(h, &v, sizeof h);
    for (int j = 0; j < 4; j++) _mm_stream_ps(p + 4 * j, h[j]);
#  endif
}
#endif

/* dst[0..n) = src[0..n) with non-temporal stores on the aligned body (the
   output then bypasses the caches instead of evicting the working set and
   paying a read-for-ownership). Callers fence once when done (stream_fence). */
static inline void LOSSK_FN(stream_copy)(real *LOSSK_RESTRICT dst,
                                         const real *LOSSK_RESTRICT src, int64_t n) {
#if LOSSK_MULTIARCH
    int64_t i = 0;
    for (; i < n && ((uintptr_t)(dst + i) & 63u) != 0; i++) dst[i] = src[i];
    for (; i + LOSSK_LANES <= n; i += LOSSK_LANES) LOSSK_FN(vstream)(dst + i, LOSSK_FN(vload)(src + i));
    for (; i < n; i++) dst[i] = src[i];
#else
    memcpy(dst, src, (size_t)n * sizeof(real));
#endif
}

/* dst[0..n) = src[0..n) * f, then dst[y] -= coef if 0 <= y < n: a softmax
   gradient streamed straight from its exps, with the operations (and
   roundings) of a scaling pass and a subtraction, in one pass instead of a
   scaling pass and stream_copy. Non-temporal stores on the aligned body
   when LOSSK_MULTIARCH; callers fence once when done. */
static inline void LOSSK_FN(stream_scale)(real *LOSSK_RESTRICT dst, const real *LOSSK_RESTRICT src,
                                          int64_t n, real f, int64_t y, real coef) {
    real fin = 0;
    if (y >= 0 && y < n) {
        volatile real p = src[y] * f;  /* rounded before coef: never one FMA */
        fin = p - coef;
    } else {
        y = -1;
    }
    int64_t i = 0;
#if LOSSK_MULTIARCH
    for (; i < n && ((uintptr_t)(dst + i) & 63u) != 0; i++) dst[i] = i == y ? fin : src[i] * f;
    const int64_t body = i + (n - i) / LOSSK_LANES * LOSSK_LANES;
    /* the vector holding y apart, so that the others keep v in a register */
    const int64_t at_y = y >= i && y < body ? i + (y - i) / LOSSK_LANES * LOSSK_LANES : body;
    for (; i < at_y; i += LOSSK_LANES) LOSSK_FN(vstream)(dst + i, LOSSK_FN(vload)(src + i) * f);
    if (i < body) {
        real v[LOSSK_LANES];
        for (int l = 0; l < LOSSK_LANES; l++) v[l] = src[i + l] * f;
        v[y - i] = fin;
        LOSSK_FN(vstream)(dst + i, LOSSK_FN(vload)(v));
        i += LOSSK_LANES;
    }
    for (; i < body; i += LOSSK_LANES) LOSSK_FN(vstream)(dst + i, LOSSK_FN(vload)(src + i) * f);
#endif
    for (; i < n; i++) dst[i] = i == y ? fin : src[i] * f;
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

#if LOSSK_AVX2_F32 && !defined(LOSSK_AVX2_HELPERS_DEFINED)
#define LOSSK_AVX2_HELPERS_DEFINED
/* exp(x) for x <= 0 or NaN, 8 floats: x = (8m + j) ln2/8 + r, |r| <= ln2/16
   (the shifter 1.5 * 2^23 rounds 8 x / ln2 to k = 8m + j, held in z's low
   bits); exp(r) = 1 + r + r^2/2 + r^3/6 + r^4/24 (truncation r^5/120 <
   1.3e-9) times 2^m 2^(j/8), the scale by one integer add: the table holds
   the bits of 2^(j/8) minus j << 20, so adding k << 20 (z's bits << 20)
   leaves m in the exponent field. 1.2 ulp at most (every 7th float in
   [-87, 0] against libm in double); 8 FMA-class operations
   instead of lossk_expf's 11 and no clamp: x < -87 (-inf included, where the
   scale's exponent wraps) is masked to 0 at the end; NaN stays NaN (r is NaN).
   lossk__exp256_in_range: without that mask, for x in [-87, 0] or NaN. */
LOSSK_INLINE __m256 lossk__exp256_in_range(__m256 x) {
    const __m256 tab = _mm256_setr_ps(1.000000000e+00f, 1.090507746e+00f, 1.189207077e+00f, 1.296839595e+00f,
                                      1.414213538e+00f, 1.542210817e+00f, 1.681792855e+00f, 1.834008098e+00f);
    const __m256i tab_k = _mm256_sub_epi32(_mm256_castps_si256(tab),
                                           _mm256_slli_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), 20));
    const __m256 shifter = _mm256_set1_ps(12582912.0f);
    const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(8.0f * 1.44269504088896341f), shifter);
    const __m256 k = _mm256_sub_ps(z, shifter);
    /* ln2/8 in two parts (Cody-Waite): k * hi is exact */
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f / 8), x);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f / 8), r);
    const __m256i zb = _mm256_castps_si256(z);
    const __m256 sc = _mm256_castsi256_ps(_mm256_add_epi32(_mm256_permutevar8x32_epi32(tab_k, zb),
                                                           _mm256_slli_epi32(zb, 20)));
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(1.0f / 24), r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    return _mm256_fmadd_ps(_mm256_mul_ps(sc, r), p, sc);
}

LOSSK_INLINE __m256 lossk__exp256_nonpos(__m256 x) {
    return _mm256_and_ps(_mm256_cmp_ps(x, _mm256_set1_ps(-87.0f), _CMP_NLT_UQ), lossk__exp256_in_range(x));
}

/* lossk_logf (simd_math.h) on 8 floats, the same operations: subnormals
   scaled by 2^23, log 0 = -inf, log inf = inf, negative or NaN x: NaN. */
LOSSK_INLINE __m256 lossk__log256(__m256 x) {
    const __m256 subn = _mm256_cmp_ps(x, _mm256_set1_ps(1.17549435e-38f), _CMP_LT_OQ);
    const __m256 xs = _mm256_blendv_ps(x, _mm256_mul_ps(x, _mm256_set1_ps(8388608.0f)), subn);
    __m256i ix = _mm256_add_epi32(_mm256_castps_si256(xs), _mm256_set1_epi32(0x3f800000 - 0x3f3504f3));
    const __m256 k = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(ix, 23), _mm256_set1_epi32(0x7f)));
    ix = _mm256_add_epi32(_mm256_and_si256(ix, _mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x3f3504f3));
    const __m256 f = _mm256_castsi256_ps(ix) - 1.0f, z = f * f;
    __m256 p = _mm256_set1_ps(LOSSK_LOGF_C0);
    LOSSK_LOGF_POLY(p, f);
    const __m256 y = p * f * z + k * -2.12194440e-4f - 0.5f * z;
    __m256 out = f + y + k * 0.693359375f;
    out = out - _mm256_and_ps(subn, _mm256_set1_ps(23.0f * 0.693147181f));
    out = _mm256_blendv_ps(out, _mm256_set1_ps(-INFINITY), _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_EQ_OQ));
    out = _mm256_blendv_ps(out, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, _mm256_set1_ps(INFINITY), _CMP_EQ_OQ));
    return _mm256_blendv_ps(out, _mm256_set1_ps(NAN), _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_NGE_UQ));
}
#endif

#if LOSSK_AVX2_F32
/* exp_shifted_sum with the table exp and the sum in the same pass (the
   generic version: lossk_expf, then lane_sum over e again); masked tail.
   The lanes in double, added as a tree. */
static inline double LOSSK_FN(exp_shifted_sum)(const real *x, real shift, real *e, int64_t n) {
    const __m256 m = _mm256_set1_ps(shift);
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 2; j++) {
            const __m256 ev = lossk__exp256_nonpos(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8 * j), m));
            _mm256_storeu_ps(e + i + 8 * j, ev);
            acc[j] = _mm256_add_ps(acc[j], ev);
        }
    for (; i < n; i += 8) {
        const __m256i k = _mm256_cmpgt_epi32(_mm256_set1_epi32((int32_t)(n - i < 8 ? n - i : 8)),
                                             _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        const __m256 ev = _mm256_and_ps(_mm256_castsi256_ps(k),
                                        lossk__exp256_nonpos(_mm256_sub_ps(_mm256_maskload_ps(x + i, k), m)));
        _mm256_maskstore_ps(e + i, k, ev);
        acc[0] = _mm256_add_ps(acc[0], ev);
    }
    const __m256 a = _mm256_add_ps(acc[0], acc[1]);
    const __m256d s = _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(a)), _mm256_cvtps_pd(_mm256_extractf128_ps(a, 1)));
    const __m128d h = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}
#endif
