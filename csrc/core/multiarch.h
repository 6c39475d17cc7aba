/*
 * Compiles a kernel family once per (SIMD level, dtype) without a code generator.
 *
 * A family file defines LOSSK_TEMPLATE_FILE as its own name and includes this
 * header; the file is then included again, once per level and dtype, with
 * LOSSK_TEMPLATE_PASS defined and these macros set (multiarch_dtypes.h):
 *   real            float or double
 *   LOSSK_F64       0 or 1
 *   LOSSK_LANES     accumulator lanes (LOSSK_LANES_F32 / _F64)
 *   LOSSK_LEVEL     0 baseline, 1 AVX2+FMA, 2 AVX-512
 *   LOSSK_FN(name)  name_f32_baseline, name_f64_avx2, ...
 * The AVX2 and AVX-512 passes are compiled under target pragmas, so the default
 * build stays portable and lossk_simd_level_active() picks one at run time:
 * entry points call LOSSK_SELECT(name_f32)(...).
 */
#ifndef LOSSK_TEMPLATE_FILE
#  error "define LOSSK_TEMPLATE_FILE before including multiarch.h"
#endif

#define LOSSK_TEMPLATE_PASS 1
#define LOSSK__CAT3(a, b, c) a##_##b##_##c
#define LOSSK__XCAT3(a, b, c) LOSSK__CAT3(a, b, c)
#define LOSSK_FN(name) LOSSK__XCAT3(name, LOSSK_SFX, LOSSK_ARCH)

#define LOSSK_LEVEL 0
#define LOSSK_ARCH baseline
#include "multiarch_dtypes.h"
#undef LOSSK_LEVEL
#undef LOSSK_ARCH

#if LOSSK_MULTIARCH
#  if defined(__clang__)
#    pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#  else
#    pragma GCC push_options
#    pragma GCC target("avx2,fma")
#  endif
#  define LOSSK_LEVEL 1
#  define LOSSK_ARCH avx2
#  include "multiarch_dtypes.h"
#  undef LOSSK_LEVEL
#  undef LOSSK_ARCH
#  if defined(__clang__)
#    pragma clang attribute pop
#    pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma"))), apply_to = function)
#  else
#    pragma GCC pop_options
#    pragma GCC push_options
#    pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma,prefer-vector-width=512")
#  endif
#  define LOSSK_LEVEL 2
#  define LOSSK_ARCH avx512
#  include "multiarch_dtypes.h"
#  undef LOSSK_LEVEL
#  undef LOSSK_ARCH
#  if defined(__clang__)
#    pragma clang attribute pop
#  else
#    pragma GCC pop_options
#  endif
#endif

#undef LOSSK_TEMPLATE_PASS
