/*
 * 8-lane float math of the pointwise family's AVX2 kernels (EW_VEC8 of
 * driver_loop.h), included in each template pass after pass_helpers.h; the
 * functions exist in the AVX2 and AVX-512 float passes only (PW_VEC8) and
 * take their names from the pass (LOSSK_FN). No include guard on purpose.
 *
 * The lanes a kernel computes here are those its loop "takes" (finite
 * operands within the ranges below); the loop redoes the others with the
 * scalar element function, so that no special case costs a select here.
 */
#include <float.h>

#undef PW_VEC8
#define PW_VEC8 (LOSSK_MULTIARCH && LOSSK_LEVEL >= 1 && !LOSSK_F64)

#if PW_VEC8
/* exp(x) for -87 <= x <= 0 (others: garbage): pass_helpers.h's 8-entry table
   exp (defined in the AVX2 float pass, before this AVX-512 one); fewer
   operations than the degree-7 polynomial of lossk_expf, which the AVX2
   logistic kernels were bound by. */
#define PW_EXP8_X_MIN (-87.0f)
LOSSK_INLINE __m256 LOSSK_FN(pw_exp8)(__m256 x) { return lossk__exp256_in_range(x); }

/* log1p(e) for e in [0, 1]: lossk_log1pf_unit's polynomial. */
LOSSK_INLINE __m256 LOSSK_FN(pw_log1p8_unit)(__m256 e) {
    __m256 q = _mm256_set1_ps(lossk_log1pf_unit_q[0]);
    for (int i = 1; i < 8; i++) q = _mm256_fmadd_ps(q, e, _mm256_set1_ps(lossk_log1pf_unit_q[i]));
    return _mm256_fmadd_ps(_mm256_mul_ps(e, e), q, e);
}

/* |v| <= m lane by lane (false for NaN) */
LOSSK_INLINE __m256 LOSSK_FN(pw_abs_le8)(__m256 v, float m) {
    return _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), v), _mm256_set1_ps(m), _CMP_LE_OQ);
}
#endif
