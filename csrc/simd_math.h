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
   exact); exp(r) = 1 + r + r^2 P(r), P the degree-5 minimax polynomial of the
   Cephes expf; 2^k is assembled in the exponent field. Results below 2^-125
   (x < -86.6) are flushed to 0 (no subnormals, which are slow); x > 88.0 gives
   +inf (exp(88.72) is the true overflow point: never reached by the kernels,
   which call it on x - max(x) <= 0 or on -|x|). exp(-inf) = 0. */
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
    p = p * (r * r) + r + 1.0f;
    uint32_t zb;
    memcpy(&zb, &z, sizeof zb);
    /* low mantissa bits of z hold k + 0x400000; k in [-125, 127] */
    uint32_t eb = (zb - 0x4B400000u + 127u) << 23;
    float scale;
    memcpy(&scale, &eb, sizeof scale);
    float y = p * scale;
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
    p = p * (r * r) + r + 1.0;
    uint64_t zb;
    memcpy(&zb, &z, sizeof zb);
    uint64_t eb = (zb - 0x4338000000000000ull + 1023u) << 52;
    double scale;
    memcpy(&scale, &eb, sizeof scale);
    double y = p * scale;
    y = x < lo ? 0.0 : y;
    y = x > hi ? (double)INFINITY : y;
    return y;
}

#endif /* LOSSK_SIMD_MATH_H */
