/*
 * Penalties over a list of arrays (Keras' regularizers): l1 = lam sum |w|,
 * gradient lam sign(w) (0 at w = 0, NaN stays NaN); l2 = lam sum w^2,
 * gradient 2 lam w. The gradients are written, or added into the caller's
 * arrays (weight decay onto existing gradients, without a temporary).
 *
 * Each array is cut into blocks of PEN_BLOCK elements; the blocks of all the
 * arrays, in list order, are the items of one lossk__run_blocks call, so
 * many small arrays share one parallel region and the sum depends on the
 * sizes only, never on the thread count.
 */
#ifndef LOSSK_TEMPLATE_PASS

#include <stdlib.h>

#include "internal.h"

/* Elements per block: a multiple of the lanes, small enough that 16 Mi
   elements give ~1000 blocks to split evenly between threads. */
#define PEN_BLOCK ((int64_t)16384)
/* Block offsets of the arrays live on the stack up to this many arrays. */
#define PEN_STACK_ARRAYS 256

typedef enum pen_kind { PEN_L1 = 0, PEN_L2 = 1 } pen_kind;

typedef struct pen_args {
    const void *const *arrays;
    void *const *grads;        /* NULL: no gradient work */
    const int64_t *sizes;
    const int64_t *first;      /* first[a]: the first block of array a; first[n_arrays]: all */
    int64_t n_arrays;
    double lam;
    pen_kind kind;
    int accumulate;
    int nt;                    /* gradients written with non-temporal stores */
} pen_args;

/* The array holding global block b: the last a with first[a] <= b (empty
   arrays have no blocks, so first[a] == first[a + 1] for them). */
static int64_t pen_array_of(const pen_args *p, int64_t b) {
    int64_t lo = 0, hi = p->n_arrays - 1;
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo + 1) / 2;
        if (p->first[mid] <= b) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

#define LOSSK_TEMPLATE_FILE "penalty/penalty.c"
#include "multiarch.h"

lossk_status lossk_penalty(const char *penalty, lossk_dtype dtype, int64_t n_arrays,
                           const void *const *arrays, const int64_t *sizes, double lam,
                           double *loss_out, void *const *grads, int accumulate, int n_threads) {
    pen_kind kind;
    if (!penalty || !loss_out || n_arrays < 0 || (n_arrays > 0 && (!arrays || !sizes)) ||
        (dtype != LOSSK_DTYPE_F32 && dtype != LOSSK_DTYPE_F64) || !(lam >= 0.0) || lam == INFINITY)
        return LOSSK_ERR_INVALID_ARGUMENT;
    if (strcmp(penalty, "l1_penalty") == 0) kind = PEN_L1;
    else if (strcmp(penalty, "l2_penalty") == 0) kind = PEN_L2;
    else return LOSSK_ERR_INVALID_ARGUMENT;
    int64_t total = 0;
    for (int64_t a = 0; a < n_arrays; a++) {
        if (sizes[a] < 0 || sizes[a] > INT64_MAX / 8 - total ||
            (sizes[a] > 0 && (!arrays[a] || (grads && !grads[a]))))
            return LOSSK_ERR_INVALID_ARGUMENT;
        if (grads && lossk__aliases(grads[a], arrays[a])) return LOSSK_ERR_ALIASING;
        total += sizes[a];
    }
    *loss_out = 0.0;
    if (total == 0) return LOSSK_OK;

    int64_t stack_first[PEN_STACK_ARRAYS + 1];
    int64_t *first = n_arrays < PEN_STACK_ARRAYS ? stack_first
                                                  : (int64_t *)malloc((size_t)(n_arrays + 1) * sizeof(int64_t));
    if (!first) return LOSSK_ERR_NO_MEMORY;
    first[0] = 0;
    for (int64_t a = 0; a < n_arrays; a++) first[a + 1] = first[a] + (sizes[a] + PEN_BLOCK - 1) / PEN_BLOCK;
    const int64_t n_blocks = first[n_arrays];

    /* Streaming stores pay when the gradients overwrite arrays larger than
       the caches (no read-for-ownership); added into, the lines are read anyway. */
    const int nt = grads && !accumulate &&
                   total * (int64_t)(dtype == LOSSK_DTYPE_F32 ? 4 : 8) >= LOSSK_NT_STORE_MIN_BYTES;
    const pen_args p = {arrays, grads, sizes, first, n_arrays, lam, kind, accumulate != 0, nt};
    const lossk_block_fn fn = dtype == LOSSK_DTYPE_F32 ? LOSSK_SELECT(penalty_block_f32)
                                                       : LOSSK_SELECT(penalty_block_f64);
    double sum = 0.0;
    /* each item is one block of PEN_BLOCK elements (or an array's shorter tail) */
    const lossk_status s = lossk__run_blocks(n_blocks, 1, lossk__threads_for(n_threads, total, n_blocks),
                                             1, 0, fn, &p, &sum, NULL);
    if (first != stack_first) free(first);
    if (s == LOSSK_OK) *loss_out = lam * sum;
    return s;
}

#else /* LOSSK_TEMPLATE_PASS: one SIMD level, one dtype (real) */

#include "pass_helpers.h"

/* Double lanes, the same count for both dtypes and every SIMD level (the
   summation order never changes); independent lanes let gcc vectorize the
   sums without reassociating them. */
#undef PEN_LANES
#define PEN_LANES 16

/* The gradient of one element: lam sign(x) (selects: 0 at 0, NaN kept; they
   vectorize) or 2 lam x, scale being lam or 2 lam. */
#undef PEN_GRAD
#define PEN_GRAD(v) (l2 ? scale * (v) : ((v) > 0 ? scale : (v) < 0 ? -scale : (v) * (real)0))
#undef PEN_TERM
#define PEN_TERM(d) (l2 ? (d) * (d) : fabs(d))

#if LOSSK_VECTOR_EXT
LOSSK_INLINE lossk_v4df LOSSK_FN(pen_load4)(const real *p) {
#  if LOSSK_F64
    lossk_v4df v;
    memcpy(&v, p, sizeof v);
    return v;
#  else
    lossk_v4sf f;
    memcpy(&f, p, sizeof f);
    return __builtin_convertvector(f, lossk_v4df);
#  endif
}

LOSSK_INLINE lossk_v4df LOSSK_FN(pen_term)(lossk_v4df d, const int l2) {
    const lossk_v4di no_sign = {INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX};
    return l2 ? d * d : (lossk_v4df)((lossk_v4di)d & no_sign);   /* |d| */
}

/* The gradient in 32-byte vectors (one ymm; 64-byte ones went through the
   stack on AVX2): PEN_VN elements. */
#  if LOSSK_F64
typedef lossk_v4df LOSSK_FN(pen_vr);
typedef lossk_v4di LOSSK_FN(pen_vm);
#  else
typedef float LOSSK_FN(pen_vr) __attribute__((vector_size(32)));
typedef int32_t LOSSK_FN(pen_vm) __attribute__((vector_size(32)));
#  endif
#  undef PEN_VN
#  define PEN_VN ((int)(32 / sizeof(real)))

/* PEN_GRAD of PEN_VN elements at x: the same operations, as selects (a
   scalar loop over a group of 16 compiled to branches) */
LOSSK_INLINE LOSSK_FN(pen_vr) LOSSK_FN(pen_gradv)(const real *x, real scale, const int l2) {
    LOSSK_FN(pen_vr) v;
    memcpy(&v, x, sizeof v);
    if (l2) return v * scale;
    const LOSSK_FN(pen_vr) zero = {0}, s = zero + scale;
    const LOSSK_FN(pen_vm) pos = v > zero, neg = v < zero;
    return (LOSSK_FN(pen_vr))((pos & (LOSSK_FN(pen_vm))s) | (neg & (LOSSK_FN(pen_vm))(-s)) |
                              (~(pos | neg) & (LOSSK_FN(pen_vm))(v * zero)));
}

/* PEN_VN gradients stored to g: streamed (g 32-byte aligned), added, or written */
LOSSK_INLINE void LOSSK_FN(pen_store)(real *g, LOSSK_FN(pen_vr) v, const int accumulate, const int nt) {
#  if LOSSK_MULTIARCH
    if (nt) {
#    if LOSSK_LEVEL >= 1 && LOSSK_F64
        _mm256_stream_pd(g, (__m256d)v);
#    elif LOSSK_LEVEL >= 1
        _mm256_stream_ps(g, (__m256)v);
#    elif LOSSK_F64
        __m128d h[2];
        memcpy(h, &v, sizeof h);
        _mm_stream_pd(g, h[0]);
        _mm_stream_pd(g + 2, h[1]);
#    else
        __m128 h[2];
        memcpy(h, &v, sizeof h);
        _mm_stream_ps(g, h[0]);
        _mm_stream_ps(g + 4, h[1]);
#    endif
        return;
    }
#  endif
    if (accumulate) {
        LOSSK_FN(pen_vr) old;
        memcpy(&old, g, sizeof old);
        v += old;
    }
    memcpy(g, &v, sizeof v);
}
#endif

/* sum |x| or x^2 over n elements in double, and (has_g) the gradient written
   to g (streamed when nt) or, with accumulate, added into it: one read of x,
   one write of g, the sum in the same loop. Element i is summed in lane
   i % PEN_LANES up to the last whole group of lanes, the rest in order after
   the lanes: the same sum whatever the path. Streamed, the vector loop
   starts where g is 64-byte aligned (head elements before it go to their
   lanes one by one) and its accumulators hold the lanes rotated by head.
   The flags are constants after inlining: each combination is its own loop. */
LOSSK_INLINE double LOSSK_FN(pen_run)(const real *LOSSK_RESTRICT x, real *LOSSK_RESTRICT g, int64_t n,
                                      real scale, const int l2, const int has_g, const int accumulate,
                                      const int nt) {
    double acc[PEN_LANES] = {0};
    const int64_t body = n / PEN_LANES * PEN_LANES;
    int64_t i = 0;
#if LOSSK_VECTOR_EXT
    int64_t head = nt ? (int64_t)(((64u - ((uintptr_t)g & 63u)) & 63u) / sizeof(real)) : 0;
    if (head > body) head = body;
    for (; i < head; i++) {
        const double d = (double)x[i];
        acc[i] += PEN_TERM(d);
        if (has_g) g[i] = accumulate ? g[i] + PEN_GRAD(x[i]) : PEN_GRAD(x[i]);
    }
    double rot[PEN_LANES];
    for (int j = 0; j < PEN_LANES; j++) rot[j] = acc[(head + j) % PEN_LANES];
    lossk_v4df a[4];
    memcpy(a, rot, sizeof a);
    lossk_v4df a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];   /* in registers */
    for (; i + PEN_LANES <= body; i += PEN_LANES) {
        a0 += LOSSK_FN(pen_term)(LOSSK_FN(pen_load4)(x + i), l2);
        a1 += LOSSK_FN(pen_term)(LOSSK_FN(pen_load4)(x + i + 4), l2);
        a2 += LOSSK_FN(pen_term)(LOSSK_FN(pen_load4)(x + i + 8), l2);
        a3 += LOSSK_FN(pen_term)(LOSSK_FN(pen_load4)(x + i + 12), l2);
        if (has_g) {
            for (int h = 0; h < PEN_LANES; h += PEN_VN)
                LOSSK_FN(pen_store)(g + i + h, LOSSK_FN(pen_gradv)(x + i + h, scale, l2), accumulate, nt);
        }
    }
    a[0] = a0;
    a[1] = a1;
    a[2] = a2;
    a[3] = a3;
    memcpy(rot, a, sizeof a);
    for (int j = 0; j < PEN_LANES; j++) acc[(head + j) % PEN_LANES] = rot[j];
#endif
    for (; i < body; i++) {          /* what the vector loop left before the tail */
        const double d = (double)x[i];
        acc[i % PEN_LANES] += PEN_TERM(d);
        if (has_g) g[i] = accumulate ? g[i] + PEN_GRAD(x[i]) : PEN_GRAD(x[i]);
    }
    double s = 0.0;
    for (int l = 0; l < PEN_LANES; l++) s += acc[l];
    for (; i < n; i++) {
        const double d = (double)x[i];
        s += PEN_TERM(d);
        if (has_g) g[i] = accumulate ? g[i] + PEN_GRAD(x[i]) : PEN_GRAD(x[i]);
    }
    return s;
}

int64_t LOSSK_FN(penalty_block)(const void *ctx, int64_t begin, int64_t end, double *acc, void *scratch);
int64_t LOSSK_FN(penalty_block)(const void *ctx, int64_t begin, int64_t end, double *acc, void *scratch) {
    const pen_args *p = (const pen_args *)ctx;
    (void)scratch;
    double total = 0.0;
    for (int64_t b = begin; b < end; b++) {
        const int64_t a = pen_array_of(p, b);
        const int64_t lo = (b - p->first[a]) * PEN_BLOCK;
        const int64_t n = p->sizes[a] - lo < PEN_BLOCK ? p->sizes[a] - lo : PEN_BLOCK;
        const real *x = (const real *)p->arrays[a] + lo;
        real *g = p->grads ? (real *)p->grads[a] + lo : NULL;
        const int l2 = p->kind == PEN_L2;
        const real scale = (real)(l2 ? 2.0 * p->lam : p->lam);
#define PEN_CALL(has_g, accumulate, nt)                                              \
        (l2 ? LOSSK_FN(pen_run)(x, g, n, scale, 1, has_g, accumulate, nt)          \
            : LOSSK_FN(pen_run)(x, g, n, scale, 0, has_g, accumulate, nt))
        if (!g) total += PEN_CALL(0, 0, 0);
        else if (p->accumulate) total += PEN_CALL(1, 1, 0);
        else if (p->nt && (uintptr_t)g % sizeof(real) == 0) total += PEN_CALL(1, 0, 1);
        else total += PEN_CALL(1, 0, 0);
#undef PEN_CALL
    }
    if (p->nt) lossk__stream_fence();
    acc[0] = total;
    return -1;
}

#endif /* LOSSK_TEMPLATE_PASS */
