/* Internal helpers shared by the kernel families (not installed). */
#ifndef LOSSK_INTERNAL_H
#define LOSSK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <math.h>

#ifndef LOSSK_UNSTABLE_API
#  define LOSSK_UNSTABLE_API  /* the library defines every entry, the family entries too */
#endif
#include "lossk.h"

#if defined(__GNUC__) || defined(__clang__)
#  define LOSSK_INLINE static inline __attribute__((always_inline))
#  define LOSSK_NOINLINE __attribute__((noinline))
#  define LOSSK_RESTRICT __restrict__
#else
#  define LOSSK_INLINE static inline
#  define LOSSK_NOINLINE
#  define LOSSK_RESTRICT
#endif

/* Runtime SIMD dispatch needs GCC/Clang target pragmas and an x86-64 CPU. */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(LOSSK_NO_MULTIARCH)
#  define LOSSK_MULTIARCH 1
#  include <immintrin.h>
#else
#  define LOSSK_MULTIARCH 0
#endif

/* Accumulator lanes of the explicit reductions: one 64-byte vector. The same
   count on every SIMD level, so the summation order never changes. With
   GCC/Clang the lanes are a vector-extension type (kept in registers, lowered
   to 1 zmm, 2 ymm or 4 xmm); other compilers use arrays of the same lanes. */
#define LOSSK_LANES_F32 16
#define LOSSK_LANES_F64 8
#if defined(__GNUC__) || defined(__clang__)
#  define LOSSK_VECTOR_EXT 1
#  if defined(__GNUC__) && !defined(__clang__)
/* 64-byte vectors passed to always-inline helpers below AVX-512: GCC notes an
   ABI change that cannot matter, since no such call survives inlining. */
#    pragma GCC diagnostic ignored "-Wpsabi"
#  endif
typedef float lossk_v16sf __attribute__((vector_size(64)));
typedef double lossk_v8df __attribute__((vector_size(64)));
typedef int32_t lossk_v16si __attribute__((vector_size(64)));
typedef int64_t lossk_v8di __attribute__((vector_size(64)));
/* one ymm (two xmm on the baseline level): 4 doubles, their lane masks, and
   4 floats (64-byte vectors went through the stack with GCC 12 at AVX2) */
typedef double lossk_v4df __attribute__((vector_size(32)));
typedef int64_t lossk_v4di __attribute__((vector_size(32)));
typedef float lossk_v4sf __attribute__((vector_size(16)));
/* Loops whose only dependence is "read x[i], then write out[i]", which stays
   safe when out == x (in-place gradients): vectorize without an alias check. */
#  if defined(__clang__)
#    define LOSSK_IVDEP _Pragma("clang loop vectorize(assume_safety)")
#  else
#    define LOSSK_IVDEP _Pragma("GCC ivdep")
#  endif
#else
#  define LOSSK_VECTOR_EXT 0
#  define LOSSK_IVDEP
#endif

/* ---- The deterministic blocked parallel driver (common.c) ----
   Items [0, n_items) are cut into blocks of `block` items. `block` must be a
   function of the problem's sizes only, never of the thread count: each block
   accumulates its own `n_acc` doubles from zero and the blocks are then added
   in block order, so the sums are bitwise identical for every n_threads.
   A block function returns -1, or the position of the first invalid item it
   met (it may stop there); the driver reports the lowest such position. */
typedef int64_t (*lossk_block_fn)(const void *ctx, int64_t begin, int64_t end,
                                  double *acc, void *scratch);

lossk_status lossk__run_blocks(int64_t n_items, int64_t block, int n_threads,
                               int n_acc, size_t scratch_bytes,
                               lossk_block_fn fn, const void *ctx,
                               double *out, int64_t *first_invalid);

/* Nonzero when an output is the very array of an input it must not alias
   (LOSSK_ERR_ALIASING). Partial overlaps are not detected: avoiding them is
   the caller's part (the Python API checks them). */
static inline int lossk__aliases(const void *out, const void *in) { return out != NULL && out == in; }

/* A lossk_class_args for the typed entries of the softmax and class-index
   families (shims over their family entries): the fields they all set. */
#define LOSSK_CLASS_ARGS(a, dtype_, pred_, n_, c_, inner_, weight_, reduction_, loss_out_,         \
                         loss_none_, grad_, n_threads_)                                            \
    lossk_class_args a;                                                                            \
    memset(&a, 0, sizeof a);                                                                       \
    a.size = sizeof a; a.dtype = dtype_; a.pred = pred_; a.n = n_; a.c = c_; a.inner = inner_;     \
    a.class_weight = weight_; a.reduction = reduction_; a.loss_out = loss_out_;                    \
    a.loss_none = loss_none_; a.grad = grad_; a.n_threads = n_threads_

/* A typed entry's status, the first invalid target's position copied out. */
static inline lossk_status lossk__class_entry_done(lossk_status s, const lossk_class_args *a,
                                                   int64_t *bad_index) {
    if (bad_index) *bad_index = a->bad_index;
    return s;
}

/* Threads worth starting for `work` element-operations (1 below a size where
   starting a parallel region costs more than the work). */
int lossk__threads_for(int n_threads, int64_t work, int64_t n_blocks);

/* Block size (in items) giving about `target_elems` elements per block. */
static inline int64_t lossk__block_items(int64_t elems_per_item, int64_t target_elems) {
    int64_t b = elems_per_item > 0 ? target_elems / elems_per_item : target_elems;
    return b < 1 ? 1 : b;
}

/* The checks shared by kernels over an (n, c, inner) class layout: n, c >= 0,
   inner >= 0, n * c * inner representable, a known reduction and index type,
   and the pointers the sizes require (pred when there are elements, loss_none
   for NONE, else loss_out). The caller checks its target pointer. */
lossk_status lossk__check_class_args(int64_t n, int64_t c, int64_t inner, lossk_reduction reduction,
                                     const void *pred, lossk_index_type target_type,
                                     const double *loss_out, const void *loss_none);

/* Validates class indices and returns the weighted mean's denominator (torch's
   total_weight): every target[i], i < samples, must be in [0, c) or, when
   has_ignore, equal ignore_index; *weight_sum = sum of weight[target[i]] (1
   each without weights; weight is float, or double when weight_f64) over the
   non-ignored ones, in fixed blocks. A bad index gives LOSSK_ERR_TARGET_RANGE
   with *bad_index = its lowest position (when bad_index is not NULL). */
lossk_status lossk__class_targets(const void *target, lossk_index_type type, int64_t samples,
                                  int64_t c, int has_ignore, int64_t ignore_index,
                                  const void *weight, int weight_f64, int n_threads,
                                  double *weight_sum, int64_t *bad_index);

void *lossk__aligned_alloc(size_t bytes);
void lossk__aligned_free(void *p);

/* Reads class index i of an int32 or int64 target array. */
static inline int64_t lossk__load_index(const void *target, lossk_index_type type, int64_t i) {
    return type == LOSSK_INDEX_INT64 ? ((const int64_t *)target)[i]
                                     : (int64_t)((const int32_t *)target)[i];
}

/* Whether outputs of `bytes` are written with non-temporal stores: they pay
   from well beyond the last-level cache share of a core, and cost ~2x for
   outputs that stay in cache (PERF.md). */
#define LOSSK_NT_STORE_MIN_BYTES ((int64_t)16 << 20)

/* ---- SIMD level selection (dispatch.c) ---- */
/* LOSSK_SELECT(name) is a pointer to name_avx512, name_avx2 or name_baseline
   (a function or a kernel table) for the active level. */
#if LOSSK_MULTIARCH
#  define LOSSK_SELECT(name)                                            \
    (lossk_simd_level_active() == LOSSK_SIMD_AVX512 ? &name##_avx512 :  \
     lossk_simd_level_active() == LOSSK_SIMD_AVX2 ? &name##_avx2 : &name##_baseline)
#else
#  define LOSSK_SELECT(name) (&name##_baseline)
#endif

#endif /* LOSSK_INTERNAL_H */
