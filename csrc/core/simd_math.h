/*
 * Branch-free elementary functions that GCC/Clang vectorize inside plain loops
 * (libm calls are not vectorized without -ffast-math, which lossk does not use
 * because it breaks NaN/inf handling). Inlined into each SIMD pass, so they run
 * at the pass's vector width. NaN propagates; no integer conversion of a NaN
 * (the exponent is built from float bits, so no undefined behaviour).
 */
#ifndef LOSSK_SIMD_MATH_H
#define LOSSK_SIMD_MATH_H

#include "internal.h"

/* The polynomial steps of lossk_expf, lossk_exp and lossk_logf_normal, as
   macros so that the vector forms in family files (GCC vector-extension types,
   __m256 operators) evaluate the same operations: p holds the first
   coefficient (LOSSK_EXPF_C0, ...) on entry. */
#define LOSSK_EXPF_C0 1.9875691500e-4f
#define LOSSK_EXPF_POLY(p, r)                                                   \
    (p = p * r + 1.3981999507e-3f, p = p * r + 8.3334519073e-3f,              \
     p = p * r + 4.1665795894e-2f, p = p * r + 1.6666665459e-1f,              \
     p = p * r + 5.0000001201e-1f, p = p * r + 1.0f, p = p * r + 1.0f)
#define LOSSK_EXP_C0 (1.0 / 6227020800.0)          /* 1/13! */
#define LOSSK_EXP_POLY(p, r)                                                    \
    (p = p * r + 1.0 / 479001600.0, p = p * r + 1.0 / 39916800.0,             \
     p = p * r + 1.0 / 3628800.0, p = p * r + 1.0 / 362880.0,                 \
     p = p * r + 1.0 / 40320.0, p = p * r + 1.0 / 5040.0,                     \
     p = p * r + 1.0 / 720.0, p = p * r + 1.0 / 120.0, p = p * r + 1.0 / 24.0, \
     p = p * r + 1.0 / 6.0, p = p * r + 0.5, p = p * r + 1.0, p = p * r + 1.0)
#define LOSSK_LOGF_C0 7.0376836292e-2f
#define LOSSK_LOGF_POLY(p, f)                                                   \
    (p = p * f - 1.1514610310e-1f, p = p * f + 1.1676998740e-1f,              \
     p = p * f - 1.2420140846e-1f, p = p * f + 1.4249322787e-1f,              \
     p = p * f - 1.6668057665e-1f, p = p * f + 2.0000714765e-1f,              \
     p = p * f - 2.4999993993e-1f, p = p * f + 3.3333331174e-1f)

/* exp(x) in float, max error about 1 ulp.
   x = k ln2 + r with |r| <= ln2/2 (Cody-Waite: ln2 split in two so k*ln2_hi is
   exact); exp(r) by the degree-7 Horner form of 1 + r + r^2 P(r), P the
   degree-5 minimax polynomial of the Cephes expf; 2^k is added to the exponent
   bits of exp(r) as an integer (no multiply, no float-to-int conversion).
   Results below 2^-125 (x < -86.6) are flushed to 0 (no slow subnormals),
   x > 88.0 gives +inf (the true overflow is at 88.72), exp(-inf) = 0.
   nonpositive: the caller guarantees x <= 0 or NaN (the overflow checks go). */
LOSSK_INLINE float lossk_expf_impl(float x, const int nonpositive) {
    const float lo = -86.6f, hi = 88.0f;
    float xc = x < lo ? lo : x;                    /* NaN compares false: stays NaN */
    if (!nonpositive) xc = xc > hi ? hi : xc;
    const float shifter = 12582912.0f;             /* 1.5 * 2^23: adding it rounds to integer */
    float z = xc * 1.44269504088896341f + shifter;
    float kf = z - shifter;
    float r = xc - kf * 0.693359375f;
    r = r - kf * -2.12194440e-4f;
    float p = LOSSK_EXPF_C0;
    LOSSK_EXPF_POLY(p, r);
    uint32_t zb, pb;
    memcpy(&zb, &z, sizeof zb);
    memcpy(&pb, &p, sizeof pb);
    /* the low bits of z hold k (z = 1.5 * 2^23 + k), and (zb << 23) == k << 23 */
    pb += zb << 23;
    float y;
    memcpy(&y, &pb, sizeof y);
    y = x < lo ? 0.0f : y;
    if (!nonpositive) y = x > hi ? INFINITY : y;
    return y;
}

LOSSK_INLINE float lossk_expf(float x) { return lossk_expf_impl(x, 0); }
LOSSK_INLINE float lossk_expf_nonpositive(float x) { return lossk_expf_impl(x, 1); }

/* exp(x) in double, max error about 2 ulp: the same reduction with the fdlibm
   split of ln2 and the Taylor polynomial of degree 13 (truncation < 5e-18 on
   |r| <= ln2/2). x < -708 flushes to 0, x > 709 gives +inf. */
LOSSK_INLINE double lossk_exp_impl(double x, const int nonpositive) {
    const double lo = -708.0, hi = 709.0;
    double xc = x < lo ? lo : x;
    if (!nonpositive) xc = xc > hi ? hi : xc;
    const double shifter = 6755399441055744.0;     /* 1.5 * 2^52 */
    double z = xc * 1.4426950408889634074 + shifter;
    double kf = z - shifter;
    double r = xc - kf * 6.93147180369123816490e-01;
    r = r - kf * 1.90821492927058770002e-10;
    double p = LOSSK_EXP_C0;
    LOSSK_EXP_POLY(p, r);
    uint64_t zb, pb;
    memcpy(&zb, &z, sizeof zb);
    memcpy(&pb, &p, sizeof pb);
    pb += zb << 52;                                /* z = 1.5 * 2^52 + k */
    double y;
    memcpy(&y, &pb, sizeof y);
    y = x < lo ? 0.0 : y;
    if (!nonpositive) y = x > hi ? (double)INFINITY : y;
    return y;
}

LOSSK_INLINE double lossk_exp(double x) { return lossk_exp_impl(x, 0); }
LOSSK_INLINE double lossk_exp_nonpositive(double x) { return lossk_exp_impl(x, 1); }

/* log(x) in float for positive, finite, normal x (no checks: other x give
   garbage), max error about 1 ulp, no division.
   x = 2^k m with m in [sqrt(1/2), sqrt(2)) (the exponent offset by the bits
   of sqrt(1/2), as in FreeBSD's logf), f = m - 1, log(1 + f) = f - f^2/2 +
   f^3 P(f) with the degree-8 polynomial of the Cephes logf; k ln2 added in
   two parts. Callers that know their argument's range use it directly: the
   special-case selects of lossk_logf, combined with lossk_expf's, can keep
   GCC 12 from vectorizing the loop. */
LOSSK_INLINE float lossk_logf_normal(float x) {
    uint32_t ix;
    memcpy(&ix, &x, sizeof ix);
    ix += 0x3f800000u - 0x3f3504f3u;
    const float k = (float)((int32_t)(ix >> 23) - 0x7f);
    ix = (ix & 0x007fffffu) + 0x3f3504f3u;
    float m;
    memcpy(&m, &ix, sizeof m);
    const float f = m - 1.0f, z = f * f;
    float p = LOSSK_LOGF_C0;
    LOSSK_LOGF_POLY(p, f);
    const float y = p * f * z + k * -2.12194440e-4f - 0.5f * z;
    return f + y + k * 0.693359375f;
}

/* log(x) in float for every x: subnormal x scaled by 2^23 first; log(0) =
   -inf, log(+inf) = +inf, negative or NaN x gives NaN. The special cases are
   a chain of selects (a && of comparisons here, next to lossk_expf's, kept
   GCC 12 from vectorizing some loops). */
LOSSK_INLINE float lossk_logf(float x) {
    const int subnormal = x < 1.17549435e-38f;
    float y = lossk_logf_normal(subnormal ? x * 8388608.0f : x) - (subnormal ? 23.0f * 0.693147181f : 0.0f);
    y = x == 0.0f ? -INFINITY : y;
    y = x == INFINITY ? INFINITY : y;
    y = !(x >= 0.0f) ? NAN : y;   /* x < 0 or NaN; one comparison: the "||" stopped
                                     GCC vectorizing the box loops that call this */
    return y;
}

/* log(x) in double for positive, finite, normal x, error below 1 ulp: the
   same reduction; log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)), s = f / (2 + f),
   R the fdlibm e_log.c polynomial. The exponent is converted to double through
   the bits of 2^52 + k (no 64-bit integer conversion, which AVX2 lacks). */
LOSSK_INLINE double lossk_log_normal(double x) {
    uint64_t ix;
    memcpy(&ix, &x, sizeof ix);
    ix += 0x3ff0000000000000ull - 0x3fe6a09e667f3bcdull;
    uint64_t kb = (ix >> 52) | 0x4330000000000000ull;       /* 2^52 + biased k */
    double kd;
    memcpy(&kd, &kb, sizeof kd);
    const double k = kd - (4503599627370496.0 + 1023.0);
    ix = (ix & 0x000fffffffffffffull) + 0x3fe6a09e667f3bcdull;
    double m;
    memcpy(&m, &ix, sizeof m);
    const double f = m - 1.0, hfsq = 0.5 * f * f, s = f / (2.0 + f), z = s * s, w = z * z;
    const double t1 = w * (3.999999999940941908e-01 + w * (2.222219843214978396e-01 + w * 1.531383769920937332e-01));
    const double t2 = z * (6.666666666666735130e-01 + w * (2.857142874366239149e-01 +
                           w * (1.818357216161805012e-01 + w * 1.479819860511658591e-01)));
    return s * (hfsq + t1 + t2) + k * 1.90821492927058770002e-10 - hfsq + f + k * 6.93147180369123816490e-01;
}

/* log(x) in double for every x, as lossk_logf (subnormals scaled by 2^54). */
LOSSK_INLINE double lossk_log(double x) {
    const int subnormal = x < 2.2250738585072014e-308;
    double y = lossk_log_normal(subnormal ? x * 18014398509481984.0 : x) -
               (subnormal ? 54.0 * 6.93147180559945309e-01 : 0.0);
    y = x == 0.0 ? -(double)INFINITY : y;
    y = x == (double)INFINITY ? (double)INFINITY : y;
    y = !(x >= 0.0) ? (double)NAN : y;   /* x < 0 or NaN, one comparison (see lossk_logf) */
    return y;
}

/* log1p(e) for e in [0, 1] (the logistic losses' log1p(exp(-|x|))) in float:
   e + e^2 Q(e), Q a degree-7 polynomial fitted for relative error (3.3e-8 in
   exact arithmetic; measured over every multiple of 2^-24 in [0, 1]: 1.7 ulp
   with FMA, 2.1 without). On [0, 1] no range reduction is needed, which halves
   the work of the general log1p. NaN stays NaN. */
/* Q's coefficients, highest degree first (shared with the AVX-512 version
   in pass_helpers.h). */
static const float lossk_log1pf_unit_q[8] = {
    5.3647770546376705e-3f, -3.006560355424881e-2f, 7.920423150062561e-2f, -1.3753776252269745e-1f,
    1.9153642654418945e-1f, -2.4857160449028015e-1f, 3.33213210105896e-1f, -4.9999648332595825e-1f};

LOSSK_INLINE float lossk_log1pf_unit(float e) {
    float q = lossk_log1pf_unit_q[0];
    for (int i = 1; i < 8; i++) q = q * e + lossk_log1pf_unit_q[i];
    return (e * e) * q + e;
}

/* log1p(y) = log(u) - c/u, u = 1 + y rounded and c = (u - 1) - y its exact
   rounding error: about 1 ulp more than log. log1p(-1) = -inf, log1p(inf) = inf. */
LOSSK_INLINE float lossk_log1pf(float y) {
    const float u = 1.0f + y, c = (u - 1.0f) - y;
    const float r = lossk_logf(u) - (c == 0.0f ? 0.0f : c / u);
    return y == INFINITY ? y : r;
}

LOSSK_INLINE double lossk_log1p(double y) {
    const double u = 1.0 + y, c = (u - 1.0) - y;
    const double r = lossk_log(u) - (c == 0.0 ? 0.0 : c / u);
    return y == (double)INFINITY ? y : r;
}

/* atan(y / x) in float, as atan of the IEEE quotient would give it (x = +-0
   gives +-pi/2 by the signs of y and x; 0/0 and inf/inf give NaN), without
   forming y / x: with p = min(|y|, |x|), q = max(|y|, |x|), t = p / q, or
   (p - q) / (p + q) = tan(atan(p/q) - pi/4) past tan(pi/8): one division,
   |t| <= tan(pi/8). atan(t) = t + t z P(z), z = t^2, P the degree-4 minimax
   fit of (atan(t)/t - 1)/z on that range (0.55 ulp); then pi/4 added back,
   pi/2 - r when |y| > |x|, and the sign. Max error 2.7 ulp (measured over 2e7
   quotients spanning 12 decades).
   Written for GCC's vectorizer: p and q are selected by one comparison (a NaN
   in either input ends up in t); the reduction multiplies by m in {0, 1}
   instead of selecting the quotient's operands, which GCC turns into two
   divisions and a selection. */
LOSSK_INLINE float lossk_atan_divf(float y, float x) {
    const float ay = fabsf(y), ax = fabsf(x);
    const int y_small = ay < ax;
    const float p = y_small ? ay : ax, q = y_small ? ax : ay;
    const float base = y_small ? 0.0f : 1.57079632679489662f, dir = y_small ? 1.0f : -1.0f;
    /* m = 1 past tan(pi/8): t = (p - m q) / (q + m p); the numerator's q is
       clamped to finite so that m q is 0 for q = inf (a NaN stays NaN) */
    const float m = p > 0.41421356237f * q ? 1.0f : 0.0f;
    const float qf = q > 3.40282347e38f ? 3.40282347e38f : q;
    const float t = (p - m * qf) / (q + m * p);
    const float z = t * t;
    float poly = -0.06451928f;
    poly = poly * z + 0.10743731f;
    poly = poly * z - 0.14263956f;
    poly = poly * z + 0.1999954f;
    poly = poly * z - 0.3333333f;
    const float r = base + dir * ((t + t * (z * poly)) + m * 0.785398163397448310f);
    return copysignf(r, y) * copysignf(1.0f, x);   /* (signbit does not vectorize) */
}

/* atan(y / x) in double, the same reduction with the degree-10 minimax
   polynomial (1 ulp on the reduced range); max error 2.5 ulp. */
LOSSK_INLINE double lossk_atan_div(double y, double x) {
    const double ay = fabs(y), ax = fabs(x);
    const int y_small = ay < ax;
    const double p = y_small ? ay : ax, q = y_small ? ax : ay;
    const double base = y_small ? 0.0 : 1.57079632679489661923, dir = y_small ? 1.0 : -1.0;
    const double m = p > 0.41421356237309505 * q ? 1.0 : 0.0;
    const double qf = q > 1.7976931348623157e308 ? 1.7976931348623157e308 : q;
    const double t = (p - m * qf) / (q + m * p);
    const double z = t * t;
    double poly = -0.01917688711906226;
    poly = poly * z + 0.03923165829558719;
    poly = poly * z - 0.0508544973794026;
    poly = poly * z + 0.0585814891280221;
    poly = poly * z - 0.06664511447381948;
    poly = poly * z + 0.07692183190826087;
    poly = poly * z - 0.09090904578123903;
    poly = poly * z + 0.11111111015256361;
    poly = poly * z - 0.14285714284666542;
    poly = poly * z + 0.1999999999999552;
    poly = poly * z - 0.3333333333333333;
    const double r = base + dir * ((t + t * (z * poly)) + m * 0.78539816339744830962);
    return copysign(r, y) * copysign(1.0, x);
}

#endif /* LOSSK_SIMD_MATH_H */
