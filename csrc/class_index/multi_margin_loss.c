/*
 * Multi-class margin loss (= torch multi_margin_loss), rows of an (n, c) array:
 *   z_i = (x_i - x_y) + margin,   h_i = max(0, z_i)^p   (p = 1 or 2),
 *   loss = w_y / c * sum_{i != y} h_i,
 *   dloss/dx_i = w_y / c * (p = 1 ? [z_i > 0] : 2 max(0, z_i)),  i != y,
 *   dloss/dx_y = -sum_{i != y} dloss/dx_i.
 * max is IEEE maxNum, which is torch's `z > 0` test: a NaN term counts 0.
 * z is summed in that order (torch: (margin - x_y) + x_i), so a tie
 * x_i == x_y gives exactly the margin at any magnitude: (1 - 1e8) + 1e8 is 0
 * in float32.
 * One pass per row: the classes before and after y are two runs of the same
 * lane-accumulated loop, so the target is excluded exactly (as torch does).
 */
#ifndef LOSSK_TEMPLATE_PASS

#include "class_index.h"

/* Elements of scores per block of the deterministic reduction. */
#define MM_BLOCK_ELEMS 65536

typedef struct mm_args {
    const void *x;             /* scores, n x c */
    int64_t n, c;
    const void *target;        /* n class indices */
    lossk_index_type target_type;
    const void *weight;        /* c weights or NULL */
    int p;
    double margin;
    double scale;              /* 1/n for mean, else 1 */
    void *loss_rows;           /* per-sample losses or NULL */
    void *grad;                /* n x c or NULL */
    int nt;                    /* stream the gradient rows from a per-thread buffer */
} mm_args;

#define LOSSK_TEMPLATE_FILE "class_index/multi_margin_loss.c"
#include "multiarch.h"

static lossk_status mm_run(mm_args *a, lossk_block_fn rows_block, size_t elem, lossk_reduction reduction,
                           double *loss_out, int n_threads, int64_t *bad_index) {
    const int64_t n = a->n, c = a->c;
    lossk_status s = lossk__check_class_args(n, c, 1, reduction, a->x, a->target_type, loss_out,
                                             a->loss_rows);
    if (s != LOSSK_OK) return s;
    if ((n > 0 && !a->target) || (a->p != 1 && a->p != 2) || a->margin != a->margin)
        return LOSSK_ERR_INVALID_ARGUMENT;
    if (bad_index) *bad_index = -1;
    if (reduction != LOSSK_REDUCTION_NONE) a->loss_rows = NULL;
    if (lossk__aliases(a->grad, a->target) || lossk__aliases(a->grad, a->weight) ||
        lossk__aliases(a->loss_rows, a->x) || lossk__aliases(a->loss_rows, a->grad))
        return LOSSK_ERR_ALIASING;
    double count = 0.0;
    s = lossk__class_targets(a->target, a->target_type, n, c, 0, 0, NULL, 0, n_threads, &count, bad_index);
    if (s != LOSSK_OK) return s;
    a->scale = reduction == LOSSK_REDUCTION_MEAN ? 1.0 / (double)n : 1.0;  /* torch: over rows, not weights */
    a->nt = a->grad && n * c * (int64_t)elem >= LOSSK_NT_STORE_MIN_BYTES;

    double total = 0.0;
    if (n > 0) {
        const int64_t block = lossk__block_items(c, MM_BLOCK_ELEMS);
        const int64_t n_blocks = (n - 1) / block + 1;
        s = lossk__run_blocks(n, block, lossk__threads_for(n_threads, n * c, n_blocks), 1,
                              a->nt ? (size_t)c * elem : 0, rows_block, a, &total, NULL);
        if (s != LOSSK_OK) return s;
    }
    if (reduction == LOSSK_REDUCTION_SUM) *loss_out = total;
    else if (reduction == LOSSK_REDUCTION_MEAN) *loss_out = total / (double)n;  /* 0/0 = NaN as torch */
    return LOSSK_OK;
}

/* multi_margin_loss for the family entry (class_index.c). */
lossk_status lossk__multi_margin_loss(lossk_class_args *args) {
    mm_args a;
    memset(&a, 0, sizeof a);
    a.x = args->pred; a.n = args->n; a.c = args->c; a.target = args->target;
    a.target_type = args->target_type; a.weight = args->class_weight; a.p = args->p;
    a.margin = args->margin; a.loss_rows = args->loss_none; a.grad = args->grad;
    if (args->inner != 1) return LOSSK_ERR_INVALID_ARGUMENT;
    if (args->dtype == LOSSK_DTYPE_F32)
        return mm_run(&a, LOSSK_SELECT(mm_rows_block_f32), sizeof(float), args->reduction, args->loss_out,
                      args->n_threads, &args->bad_index);
    if (args->dtype == LOSSK_DTYPE_F64)
        return mm_run(&a, LOSSK_SELECT(mm_rows_block_f64), sizeof(double), args->reduction, args->loss_out,
                      args->n_threads, &args->bad_index);
    return LOSSK_ERR_INVALID_ARGUMENT;
}

#define MM_ENTRY(sfx, dtype_, T)                                                                    \
    lossk_status lossk_multi_margin_loss_##sfx(                                                     \
        const T *scores, int64_t n, int64_t c, const void *target, lossk_index_type target_type,   \
        const T *class_weight, int p, double margin, lossk_reduction reduction, double *loss_out,  \
        T *loss_none, T *grad, int n_threads, int64_t *bad_index) {                                 \
        LOSSK_CLASS_ARGS(a, dtype_, scores, n, c, 1, class_weight, reduction, loss_out, loss_none,  \
                         grad, n_threads);                                                          \
        a.target = target; a.target_type = target_type; a.p = p; a.margin = margin;                 \
        return lossk__class_entry_done(lossk_class_index_loss("multi_margin_loss", &a), &a,         \
                                       bad_index);                                                  \
    }
MM_ENTRY(f32, LOSSK_DTYPE_F32, float)
MM_ENTRY(f64, LOSSK_DTYPE_F64, double)

#else /* LOSSK_TEMPLATE_PASS: one SIMD level, one dtype (real) */

#include "pass_helpers.h"

/* h = max(0, (x - x_y) + margin)^p; *d = coef * dh/dx. */
LOSSK_INLINE real LOSSK_FN(mm_term)(real x, real x_y, real margin, int p, real coef, real *d) {
    const real z = (x - x_y) + margin, zp = z > 0 ? z : (real)0;
    *d = z > 0 ? (p == 2 ? (2 * coef) * zp : coef) : (real)0;  /* no coef * 0: coef may be inf */
    return p == 2 ? zp * zp : zp;
}

/* Over x[0..len): returns sum max(0, (x - x_y) + margin)^p; when g is not NULL writes
   g = coef * dh/dx (coef = w_y / c * scale) and adds sum g to *g_sum. g may
   be x (each element is read before it is written). The lanes are added in a
   fixed order after the loop, the tail after them. */
LOSSK_INLINE double LOSSK_FN(mm_run_terms)(const real *x, real *g, int64_t len, real x_y, real margin, int p,
                                           real coef, double *g_sum) {
    int64_t i = 0;
    double h = 0.0, gs = 0.0;
    real d;
#if LOSSK_VECTOR_EXT
    /* the same mm_term per lane, as masks: z > 0 is false for NaN, so zp = 0 */
    const LOSSK_VREAL zero = {0}, vcoef = zero + coef, two_coef = zero + 2 * coef;
    LOSSK_VREAL acc_h = zero, acc_g = zero;
    for (; i + LOSSK_LANES <= len; i += LOSSK_LANES) {
        const LOSSK_VREAL z = (LOSSK_FN(vload)(x + i) - x_y) + margin;
        const LOSSK_VMASK pos = z > zero;
        const LOSSK_VREAL zp = (LOSSK_VREAL)((LOSSK_VMASK)z & pos);
        acc_h += p == 2 ? zp * zp : zp;
        if (g) {
            const LOSSK_VREAL dv = (LOSSK_VREAL)((LOSSK_VMASK)(p == 2 ? two_coef * zp : vcoef) & pos);
            memcpy(g + i, &dv, sizeof dv);
            acc_g += dv;
        }
    }
    h = LOSSK_FN(vsum)(acc_h);
    gs = LOSSK_FN(vsum)(acc_g);
#else
    real acc_h[LOSSK_LANES] = {0}, acc_g[LOSSK_LANES] = {0};
    for (; i + LOSSK_LANES <= len; i += LOSSK_LANES)
        for (int l = 0; l < LOSSK_LANES; l++) {
            acc_h[l] += LOSSK_FN(mm_term)(x[i + l], x_y, margin, p, coef, &d);
            if (g) { g[i + l] = d; acc_g[l] += d; }
        }
    for (int l = 0; l < LOSSK_LANES; l++) { h += (double)acc_h[l]; gs += (double)acc_g[l]; }
#endif
    for (; i < len; i++) {
        h += (double)LOSSK_FN(mm_term)(x[i], x_y, margin, p, coef, &d);
        if (g) { g[i] = d; gs += (double)d; }
    }
    if (g) *g_sum += gs;
    return h;
}

static int64_t LOSSK_FN(mm_rows_block)(const void *ctx, int64_t begin, int64_t end, double *acc,
                                       void *scratch) {
    const mm_args *a = (const mm_args *)ctx;
    const int64_t c = a->c;
    const real *w = (const real *)a->weight;
    double total = 0.0;
    for (int64_t r = begin; r < end; r++) {
        const real *x = (const real *)a->x + r * c;
        real *gr = a->grad ? (real *)a->grad + r * c : NULL;
        real *g = a->nt ? (real *)scratch : gr;
        const int64_t y = lossk__load_index(a->target, a->target_type, r);
        const real x_y = x[y];  /* read before the row is overwritten (in place) */
        const double w_y = w ? (double)w[y] : 1.0;
        const real margin = (real)a->margin;
        const real coef = (real)(a->scale * w_y / (double)c);
        double g_sum = 0.0;
        const double h = LOSSK_FN(mm_run_terms)(x, g, y, x_y, margin, a->p, coef, &g_sum) +
                         LOSSK_FN(mm_run_terms)(x + y + 1, g ? g + y + 1 : NULL, c - y - 1, x_y, margin,
                                                a->p, coef, &g_sum);
        const double loss = h != 0.0 ? w_y * h / (double)c : 0.0;  /* torch: no term, no w_y * 0 */
        if (g) {
            g[y] = (real)-g_sum;
            if (a->nt) LOSSK_FN(stream_copy)(gr, g, c);
        }
        if (a->loss_rows) ((real *)a->loss_rows)[r] = (real)loss;
        total += loss;
    }
    if (a->nt) lossk__stream_fence();
    acc[0] = total;
    return -1;
}

#endif /* LOSSK_TEMPLATE_PASS */
