/* Run-time choice of the SIMD level the kernels use (see multiarch.h). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

lossk_simd_level lossk_simd_level_compiled(void) {
#if LOSSK_MULTIARCH
    return LOSSK_SIMD_AVX512;
#else
    return LOSSK_SIMD_BASELINE;
#endif
}

const char *lossk_simd_level_name(lossk_simd_level level) {
    switch (level) {
    case LOSSK_SIMD_BASELINE: return "baseline";
    case LOSSK_SIMD_AVX2: return "avx2";
    case LOSSK_SIMD_AVX512: return "avx512";
    }
    return "unknown";
}

static lossk_simd_level detect(void) {
    lossk_simd_level best = LOSSK_SIMD_BASELINE;
#if LOSSK_MULTIARCH
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = LOSSK_SIMD_AVX2;
    if (best == LOSSK_SIMD_AVX2 && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
        best = LOSSK_SIMD_AVX512;
#endif
    /* LOSSK_SIMD may lower the level (for testing and comparison), never raise it. */
    const char *env = getenv("LOSSK_SIMD");
    if (env) {
        lossk_simd_level want = best;
        if (strcmp(env, "baseline") == 0) want = LOSSK_SIMD_BASELINE;
        else if (strcmp(env, "avx2") == 0) want = LOSSK_SIMD_AVX2;
        else if (strcmp(env, "avx512") == 0) want = LOSSK_SIMD_AVX512;
        if (want < best) best = want;
    }
    return best;
}

/* Cached after the first call. Every thread computes the same value, so a
   racing first call only stores that value twice (a relaxed atomic store). */
lossk_simd_level lossk_simd_level_active(void) {
    static int cached = -1;
    int level = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (level < 0) {
        level = (int)detect();
        __atomic_store_n(&cached, level, __ATOMIC_RELAXED);
    }
    return (lossk_simd_level)level;
}
