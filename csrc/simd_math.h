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

/* exp(x) in float, max error about 1 ulp.
   x = k ln2 + r with |r| <= ln2/2 (Cody-Waite: ln2 split in two so k*ln2_hi is
   exact); exp(r) by the degree-7 Horner form of 1 + r + r^2 P(r), P the
   degree-5 minimax polynomial of the Cephes expf; 2^k is added to the exponent
   bits of exp(r) as an integer (no multiply, no float-to-int conversion).
   Results below 2^-125 (x < -86.6) are flushed to 0 (no slow subnormals),
   x > 88.0 gives +inf (the true overflow is at 88.72), exp(-inf) = 0. */
LOSSK_INLINE float lossk_expf(float x) {
    const float lo = -86.6f, hi = 88.0f;
    float xc = x < lo ? lo : x;                    /* NaN compares false: stays NaN */
    xc = xc > hi ? hi : xc;
    const float shifter = 12582912.0f;             /* 1.5 * 2^23: adding it rounds to integer */
    float z = xc * 1.44269504088896341f + shifter;
    float kf = z - shifter;
    float r = xc - kf * 0.693359375f;
    r = r - kf * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    uint32_t zb, pb;
    memcpy(&zb, &z, sizeof zb);
    memcpy(&pb, &p, sizeof pb);
    /* the low bits of z hold k (z = 1.5 * 2^23 + k), and (zb << 23) == k << 23 */
    pb += zb << 23;
    float y;
    memcpy(&y, &pb, sizeof y);
    y = x < lo ? 0.0f : y;
    y = x > hi ? INFINITY : y;
    return y;
}

/* exp(x) in double, max error about 2 ulp: the same reduction with the fdlibm
   split of ln2 and the Taylor polynomial of degree 13 (truncation < 5e-18 on
   |r| <= ln2/2). x < -708 flushes to 0, x > 709 gives +inf. */
LOSSK_INLINE double lossk_exp(double x) {
    const double lo = -708.0, hi = 709.0;
    double xc = x < lo ? lo : x;
    xc = xc > hi ? hi : xc;
    const double shifter = 6755399441055744.0;     /* 1.5 * 2^52 */
    double z = xc * 1.4426950408889634074 + shifter;
    double kf = z - shifter;
    double r = xc - kf * 6.93147180369123816490e-01;
    r = r - kf * 1.90821492927058770002e-10;
    double p = 1.0 / 6227020800.0;                 /* 1/13! */
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    uint64_t zb, pb;
    memcpy(&zb, &z, sizeof zb);
    memcpy(&pb, &p, sizeof pb);
    pb += zb << 52;                                /* z = 1.5 * 2^52 + k */
    double y;
    memcpy(&y, &pb, sizeof y);
    y = x < lo ? 0.0 : y;
    y = x > hi ? (double)INFINITY : y;
    return y;
}

/* log(x) in float for x > 0, max error about 2 ulp; log(0) = -inf, log(+inf) =
   +inf, negative or NaN x gives NaN. x = 2^e m with m in [sqrt(1/2), sqrt(2)),
   log(m) = f - f^2/2 + f^3 Q(f), f = m - 1, Q the degree-8 polynomial of the
   Cephes logf. Subnormal x are treated as 0 (never produced by the kernels). */
LOSSK_INLINE float lossk_logf(float x) {
    uint32_t xb;
    memcpy(&xb, &x, sizeof xb);
    /* exponent relative to sqrt(1/2): subtracting 0x3f3504f3 centres m around 1 */
    uint32_t t = xb - 0x3f3504f3u;
    int32_t e = (int32_t)(t >> 23) - (int32_t)((t >> 31) << 9);  /* arithmetic shift, no UB */
    uint32_t mb = (t & 0x007fffffu) + 0x3f3504f3u;
    float m;
    memcpy(&m, &mb, sizeof m);
    float f = m - 1.0f;
    float q = 7.0376836292e-2f;
    q = q * f - 1.1514610310e-1f;
    q = q * f + 1.1676998740e-1f;
    q = q * f - 1.2420140846e-1f;
    q = q * f + 1.4249322787e-1f;
    q = q * f - 1.6668057665e-1f;
    q = q * f + 2.0000714765e-1f;
    q = q * f - 2.4999993993e-1f;
    q = q * f + 3.3333331174e-1f;
    float f2 = f * f;
    float y = f + f2 * (f * q - 0.5f) + (float)e * 0.693147180559945f;
    y = x < 1.17549435e-38f ? -INFINITY : y;       /* 0 and subnormals */
    y = x == INFINITY ? INFINITY : y;
    y = !(x >= 0.0f) ? NAN : y;   /* x < 0 or NaN; one comparison: the "||" stopped
                                     GCC vectorizing the box loops that call this */
    return y;
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

/* log(x) in double, measured max error 1.3 ulp. x = 2^e m with m in
   [sqrt(1/2), sqrt(2)) read from the bits (subnormals scaled by 2^54 first);
   log(m) = log(1 + f) = 2 atanh(s) = f - s (f - z R(z)), s = f / (2 + f),
   z = s^2 <= 0.0295, R the degree-6 minimax fit; e ln2 added with ln2 split
   in two (Cody-Waite). The exponent becomes a double through the bits
   (2^52 + e), as AVX2 has no int64 -> double conversion. log(0) = -inf,
   log(x < 0) = NaN, log(inf) = inf. */
LOSSK_INLINE double lossk_log(double x) {
    const int sub = x < 2.2250738585072014e-308;
    const double xs = sub ? x * 18014398509481984.0 : x;   /* 2^54 */
    uint64_t b;
    memcpy(&b, &xs, sizeof b);
    const uint64_t mb = (b & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
    double m;
    memcpy(&m, &mb, sizeof m);
    const int big = m > 1.4142135623730951;
    m = big ? m * 0.5 : m;
    const uint64_t eb = ((b >> 52) & 0x7ffu) | 0x4330000000000000ull;   /* 2^52 + biased exponent */
    double e;
    memcpy(&e, &eb, sizeof e);
    e = e - (4503599627370496.0 + (sub ? 1077.0 : 1023.0)) + (big ? 1.0 : 0.0);
    const double f = m - 1.0;
    const double s = f / (2.0 + f);
    const double z = s * s;
    double r = 0.14616449685043406;
    r = r * z + 0.15331721600556042;
    r = r * z + 0.18182889125261723;
    r = r * z + 0.2222221113479508;
    r = r * z + 0.28571428625975487;
    r = r * z + 0.39999999999899505;
    r = r * z + 0.666666666666667;
    double y = f - s * (f - z * r);
    y = e * 6.93147180369123816490e-01 + (e * 1.90821492927058770002e-10 + y);
    y = x == (double)INFINITY ? x : y;
    y = x == 0.0 ? -(double)INFINITY : y;
    y = x < 0.0 ? (double)NAN : y;
    return x != x ? x : y;
}

#endif /* LOSSK_SIMD_MATH_H */
