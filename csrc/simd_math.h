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
    y = (x < 0.0f || x != x) ? NAN : y;
    return y;
}

#endif /* LOSSK_SIMD_MATH_H */
