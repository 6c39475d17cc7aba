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
/* exp(x) for -87 <= x <= 0 (others: garbage): x = (k/8) ln2 + r, |r| <=
   ln2/16 (Cody-Waite: k * hi exact), 2^(k/8) from an 8-entry table of
   2^(j/8) (one permute) with k >> 3 added to its exponent bits, exp(r) =
   1 + r + r^2 (1/2 + r/6 + r^2/24): truncation below 1.4e-9, about 1 ulp
   in all. Fewer operations than the degree-7 polynomial of lossk_expf,
   which the AVX2 logistic kernels were bound by. */
#define PW_EXP8_X_MIN (-87.0f)
LOSSK_INLINE __m256 LOSSK_FN(pw_exp8)(__m256 x) {
    /* bits of 2^(j/8) minus j << 20: (k << 20) then adds both j and k >> 3 */
    const __m256i tab_k = _mm256_setr_epi32(0x3f800000 - (0 << 20), 0x3f8b95c2 - (1 << 20),
                                            0x3f9837f0 - (2 << 20), 0x3fa5fed7 - (3 << 20),
                                            0x3fb504f3 - (4 << 20), 0x3fc5672a - (5 << 20),
                                            0x3fd744fd - (6 << 20), 0x3feac0c7 - (7 << 20));
    const __m256 shifter = _mm256_set1_ps(12582912.0f);   /* 1.5 * 2^23: rounds to an integer */
    const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(8.0f * 1.44269504088896341f), shifter);
    const __m256 k = _mm256_sub_ps(z, shifter);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f / 8), x);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f / 8), r);
    const __m256i zi = _mm256_castps_si256(z);   /* low bits: k (z = 1.5 * 2^23 + k) */
    const __m256 sc = _mm256_castsi256_ps(
        _mm256_add_epi32(_mm256_permutevar8x32_epi32(tab_k, zi), _mm256_slli_epi32(zi, 20)));
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(1.0f / 24), r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    return _mm256_fmadd_ps(_mm256_mul_ps(sc, r), p, sc);
}

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
