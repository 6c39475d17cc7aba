/*
 * The IoU family of box-regression losses (IoU, GIoU, DIoU, CIoU, EIoU, SIoU,
 * Wise-IoU v1/v3): loss and gradient w.r.t. the predicted boxes in one pass;
 * and the pairwise box_iou / generalized_box_iou matrices.
 *
 * Per pair, prediction (x1, y1, x2, y2) and target (X1, Y1, X2, Y2) in corners:
 *   w = x2 - x1, h = y2 - y1 (wg, hg the target's)
 *   iw = min(x2, X2) - max(x1, X1), ih alike; I = iw ih where iw > 0 and
 *   ih > 0, else 0 (torchvision masks the intersection)
 *   U = w h + wg hg - I, IoU = I / (U + eps)
 *   enclosing box cw = max(x2, X2) - min(x1, X1), ch alike
 *   centre offset dx = (x1 + x2)/2 - (X1 + X2)/2, dy alike
 * Every loss is 1 - IoU plus a penalty in these quantities (lossk.h gives the
 * formulas); box_loss_pair returns its partial derivatives w.r.t. IoU, U, cw,
 * ch, dx, dy, w and h, which box_backward chains to the corners once for all
 * losses, and box_grad_format to the caller's format.
 *
 * Subgradients are torch autograd's through torchvision's formulas: a
 * max/min tie gives each argument half the gradient, the masked intersection
 * has gradient 0 where it is masked (also at iw = 0), |0|' = 0.
 *
 * Boxes are processed in tiles of BOX_TILE. The per-pair loop reads the
 * interleaved corners (the caller's arrays for xyxy, a converted scratch tile
 * for the other formats; GCC deinterleaves them in registers) and writes the
 * losses and corner gradients as rows of per-thread scratch; a second loop
 * chains those to the caller's format and interleaves them into grad, after
 * the tile of pred is read, so grad may alias pred. The loss sum takes fixed
 * blocks of BOX_BLOCK pairs, so it is bitwise identical for every thread count.
 */
#ifndef LOSSK_TEMPLATE_PASS

/* The per-pair loops are long dependency chains (divisions, atan, exp)
   where the out-of-order window holds little more than one iteration:
   letting GCC schedule instructions (with register pressure in mind)
   interleaves independent work and cuts CIoU's time by 10 %, SIoU's by 20 %. */
#if defined(__GNUC__) && !defined(__clang__)
#  pragma GCC optimize("schedule-insns", "sched-pressure")
#endif

#include <string.h>

#include "internal.h"

/* Pairs per tile: the tile's scratch (17 rows of BOX_TILE) stays in L1. */
#define BOX_TILE 128
/* Pairs per block of the deterministic sum (a multiple of BOX_TILE), small
   enough that N = 10^4 splits evenly over 2 threads. */
#define BOX_BLOCK 1024
/* Element-operations a pair is worth for lossk__threads_for. */
#define BOX_WORK 16
/* Pairwise matrices: elements per block (rows x M). */
#define PAIR_BLOCK_ELEMS 65536

/* Internal variants; the public entry points map onto them. */
enum box_kind {
    BOX_IOU, BOX_GIOU, BOX_DIOU, BOX_CIOU, BOX_EIOU, BOX_EIOU_FOCAL, BOX_SIOU, BOX_WIOU1, BOX_WIOU3,
    BOX_CIOU_HUGE  /* CIoU recomputed for a tile holding a NaN loss: sizes clamped (angle_diff) */
};

typedef struct box_args {
    int kind;
    lossk_box_format format;
    const void *pred, *target;  /* n x 4 */
    int64_t n;
    double eps;
    int alpha_yolo;             /* CIoU: alpha = v / (v - IoU + (1 + eps)) */
    double gamma;               /* Focal-EIoU exponent */
    double theta;               /* SIoU shape exponent */
    double inv_mean;            /* WIoU v3: 1 / running mean of 1 - IoU */
    double log_alpha, delta;    /* WIoU v3 */
    double scale;               /* d(returned loss)/d(pair loss) */
    void *loss_none;            /* n losses or NULL */
    void *grad;                 /* n x 4 or NULL */
    int nt;                     /* non-temporal gradient stores */
} box_args;

typedef struct pair_args {
    const void *b1, *b2;        /* n x 4, m x 4 */
    int64_t n, m;
    lossk_box_format format;
    int generalized;
    void *out;                  /* n x m */
    int nt;
} pair_args;

typedef struct box_kernels {
    lossk_block_fn loss_block;  /* items are pairs; acc[0] = sum of losses */
    lossk_block_fn pair_block;  /* items are rows of the n x m matrix */
} box_kernels;

#define LOSSK_TEMPLATE_FILE "box/box_iou.c"
#include "multiarch.h"

/* Scratch of one thread: 8 input rows, the losses, 4 gradient rows and an
   interleaved gradient tile for the non-temporal stores. */
static size_t box_scratch_bytes(size_t elem) { return (size_t)(8 + 1 + 4 + 4) * BOX_TILE * elem; }

static int box_format_ok(lossk_box_format f) {
    return f == LOSSK_BOX_XYXY || f == LOSSK_BOX_XYWH || f == LOSSK_BOX_CXCYWH;
}

/* Validates, runs the loss blocks, reduces. wiou_mean: WIoU v3's running mean
   (in/out), momentum > 0 updates it first from this batch's mean of 1 - IoU,
   as the Wise-IoU reference does before computing the loss. */
static lossk_status box_run(box_args *a, const box_kernels *kern, size_t elem,
                            lossk_reduction reduction, double *loss_out, int n_threads,
                            double *wiou_mean, double momentum) {
    const int64_t n = a->n;
    if (n < 0 || n > INT64_MAX / 4 || !box_format_ok(a->format) || !(a->eps >= 0.0) ||
        a->eps == (double)INFINITY ||
        (reduction != LOSSK_REDUCTION_NONE && reduction != LOSSK_REDUCTION_MEAN &&
         reduction != LOSSK_REDUCTION_SUM) ||
        (n > 0 && (!a->pred || !a->target)) ||
        (reduction == LOSSK_REDUCTION_NONE && n > 0 && !a->loss_none) ||
        (reduction != LOSSK_REDUCTION_NONE && !loss_out))
        return LOSSK_ERR_INVALID_ARGUMENT;
    if (reduction != LOSSK_REDUCTION_NONE) a->loss_none = NULL;
    if (lossk__aliases(a->grad, a->target) || lossk__aliases(a->loss_none, a->pred) ||
        lossk__aliases(a->loss_none, a->target) || lossk__aliases(a->loss_none, a->grad))
        return LOSSK_ERR_ALIASING;
    a->scale = reduction == LOSSK_REDUCTION_MEAN && n > 0 ? 1.0 / (double)n : 1.0;
    a->nt = a->grad && n >= LOSSK_NT_STORE_MIN_BYTES / (4 * (int64_t)elem);
    const int64_t n_blocks = n > 0 ? (n - 1) / BOX_BLOCK + 1 : 0;
    const int64_t work = n > INT64_MAX / BOX_WORK ? INT64_MAX : n * BOX_WORK;
    const int threads = lossk__threads_for(n_threads, work, n_blocks);
    const size_t scratch = box_scratch_bytes(elem);

    if (a->kind == BOX_WIOU3) {
        double mean = *wiou_mean;
        if (momentum > 0.0 && n > 0) {
            box_args pre = *a;
            pre.kind = BOX_IOU;
            pre.grad = pre.loss_none = NULL;
            double sum = 0.0;
            lossk_status s = lossk__run_blocks(n, BOX_BLOCK, threads, 1, scratch, kern->loss_block,
                                               &pre, &sum, NULL);
            if (s != LOSSK_OK) return s;
            mean = (1.0 - momentum) * mean + momentum * (sum / (double)n);
            *wiou_mean = mean;
        }
        a->inv_mean = mean != 0.0 ? 1.0 / mean : 0.0;  /* mean 0: beta = 0, no loss */
    }

    double total = 0.0;
    lossk_status s = lossk__run_blocks(n, BOX_BLOCK, threads, 1, scratch, kern->loss_block, a,
                                       &total, NULL);
    if (s != LOSSK_OK) return s;
    if (reduction == LOSSK_REDUCTION_SUM) *loss_out = total;
    /* torchvision: the mean of no boxes is 0 (0 * sum), not NaN */
    else if (reduction == LOSSK_REDUCTION_MEAN) *loss_out = n > 0 ? total / (double)n : 0.0;
    return LOSSK_OK;
}

#define BOX_KERNELS(sfx) LOSSK_SELECT(box_kernels_##sfx)

/* The family entry (lossk.h): the loss by its name in Python. */
static const struct { const char *name; int kind; } box_losses[] = {
    {"iou_loss", BOX_IOU},   {"giou_loss", BOX_GIOU}, {"diou_loss", BOX_DIOU}, {"ciou_loss", BOX_CIOU},
    {"eiou_loss", BOX_EIOU}, {"siou_loss", BOX_SIOU}, {"wiou_loss", BOX_WIOU1},
};

lossk_status lossk_box_loss(const char *loss, const lossk_box_args *args) {
    if (!loss || !args || args->size < sizeof(lossk_box_args)) return LOSSK_ERR_INVALID_ARGUMENT;
    int kind = -1;
    for (size_t i = 0; i < sizeof box_losses / sizeof box_losses[0]; i++)
        if (strcmp(loss, box_losses[i].name) == 0) kind = box_losses[i].kind;
    if (kind < 0) return LOSSK_ERR_INVALID_ARGUMENT;
    box_args a;
    memset(&a, 0, sizeof a);
    a.format = args->format; a.pred = args->pred; a.target = args->target; a.n = args->n;
    a.eps = args->eps; a.loss_none = args->loss_none; a.grad = args->grad;
    const double option = args->option;
    double *mean = NULL, momentum = 0.0;
    switch (kind) {
    case BOX_CIOU:
        if (option != LOSSK_CIOU_ALPHA_TORCHVISION && option != LOSSK_CIOU_ALPHA_YOLO)
            return LOSSK_ERR_INVALID_ARGUMENT;
        a.alpha_yolo = option == LOSSK_CIOU_ALPHA_YOLO;
        break;
    case BOX_EIOU:  /* option: focal_gamma, 0 for plain EIoU */
        if (!(option >= 0.0) || option == (double)INFINITY) return LOSSK_ERR_INVALID_ARGUMENT;
        if (option > 0.0) kind = BOX_EIOU_FOCAL;
        a.gamma = option;
        break;
    case BOX_SIOU:  /* option: theta */
        if (!(option >= 1.0) || option == (double)INFINITY) return LOSSK_ERR_INVALID_ARGUMENT;
        a.theta = option;
        break;
    case BOX_WIOU1:
        mean = args->mean_iou_loss;
        if (!mean) break;
        if (*mean < 0.0 || *mean == (double)INFINITY || !(args->momentum >= 0.0 && args->momentum <= 1.0) ||
            !(args->alpha > 0.0) || args->alpha == (double)INFINITY || !(args->delta > 0.0) ||
            args->delta == (double)INFINITY)
            return LOSSK_ERR_INVALID_ARGUMENT;
        kind = BOX_WIOU3;
        a.log_alpha = log(args->alpha);
        a.delta = args->delta;
        momentum = args->momentum;
        break;
    }
    a.kind = kind;
    if (args->dtype == LOSSK_DTYPE_F32)
        return box_run(&a, BOX_KERNELS(f32), sizeof(float), args->reduction, args->loss_out,
                       args->n_threads, mean, momentum);
    if (args->dtype == LOSSK_DTYPE_F64)
        return box_run(&a, BOX_KERNELS(f64), sizeof(double), args->reduction, args->loss_out,
                       args->n_threads, mean, momentum);
    return LOSSK_ERR_INVALID_ARGUMENT;
}

/* The typed entries: shims over the family entry. */
#define BOX_ARGS(dtype_)                                                                           \
    lossk_box_args a;                                                                              \
    memset(&a, 0, sizeof a);                                                                       \
    a.size = sizeof a; a.dtype = dtype_; a.pred = pred; a.target = target; a.n = n;                \
    a.format = format; a.eps = eps; a.reduction = reduction; a.loss_out = loss_out;                \
    a.loss_none = loss_none; a.grad = grad; a.n_threads = n_threads

/* The variants without options of their own (named in full, so that grep finds them). */
#define BOX_PLAIN_ENTRY(entry, name, dtype, T)                                                     \
    lossk_status entry(const T *pred, const T *target, int64_t n, lossk_box_format format,         \
                       double eps, lossk_reduction reduction, double *loss_out, T *loss_none,      \
                       T *grad, int n_threads) {                                                   \
        BOX_ARGS(dtype);                                                                           \
        return lossk_box_loss(name, &a);                                                           \
    }

BOX_PLAIN_ENTRY(lossk_iou_loss_f32, "iou_loss", LOSSK_DTYPE_F32, float)
BOX_PLAIN_ENTRY(lossk_iou_loss_f64, "iou_loss", LOSSK_DTYPE_F64, double)
BOX_PLAIN_ENTRY(lossk_giou_loss_f32, "giou_loss", LOSSK_DTYPE_F32, float)
BOX_PLAIN_ENTRY(lossk_giou_loss_f64, "giou_loss", LOSSK_DTYPE_F64, double)
BOX_PLAIN_ENTRY(lossk_diou_loss_f32, "diou_loss", LOSSK_DTYPE_F32, float)
BOX_PLAIN_ENTRY(lossk_diou_loss_f64, "diou_loss", LOSSK_DTYPE_F64, double)

#define BOX_OPTION_ENTRIES(sfx, dtype, T)                                                          \
    lossk_status lossk_ciou_loss_##sfx(const T *pred, const T *target, int64_t n,                  \
                                       lossk_box_format format, double eps,                        \
                                       lossk_ciou_alpha alpha, lossk_reduction reduction,          \
                                       double *loss_out, T *loss_none, T *grad, int n_threads) {   \
        BOX_ARGS(dtype);                                                                           \
        a.option = (double)alpha;                                                                  \
        return lossk_box_loss("ciou_loss", &a);                                                    \
    }                                                                                              \
    lossk_status lossk_eiou_loss_##sfx(const T *pred, const T *target, int64_t n,                  \
                                       lossk_box_format format, double eps, double focal_gamma,    \
                                       lossk_reduction reduction, double *loss_out, T *loss_none,  \
                                       T *grad, int n_threads) {                                   \
        BOX_ARGS(dtype);                                                                           \
        a.option = focal_gamma;                                                                    \
        return lossk_box_loss("eiou_loss", &a);                                                    \
    }                                                                                              \
    lossk_status lossk_siou_loss_##sfx(const T *pred, const T *target, int64_t n,                  \
                                       lossk_box_format format, double eps, double theta,          \
                                       lossk_reduction reduction, double *loss_out, T *loss_none,  \
                                       T *grad, int n_threads) {                                   \
        BOX_ARGS(dtype);                                                                           \
        a.option = theta;                                                                          \
        return lossk_box_loss("siou_loss", &a);                                                    \
    }                                                                                              \
    lossk_status lossk_wiou_loss_##sfx(const T *pred, const T *target, int64_t n,                  \
                                       lossk_box_format format, double eps,                        \
                                       double *mean_iou_loss, double momentum, double alpha,       \
                                       double delta, lossk_reduction reduction, double *loss_out,  \
                                       T *loss_none, T *grad, int n_threads) {                     \
        BOX_ARGS(dtype);                                                                           \
        a.mean_iou_loss = mean_iou_loss; a.momentum = momentum; a.alpha = alpha; a.delta = delta;  \
        return lossk_box_loss("wiou_loss", &a);                                                    \
    }
BOX_OPTION_ENTRIES(f32, LOSSK_DTYPE_F32, float)
BOX_OPTION_ENTRIES(f64, LOSSK_DTYPE_F64, double)

static lossk_status pair_run(pair_args *a, const box_kernels *kern, size_t elem, int n_threads) {
    const int64_t n = a->n, m = a->m;
    if (n < 0 || m < 0 || n > INT64_MAX / 4 || m > INT64_MAX / 4 || !box_format_ok(a->format) ||
        (m > 0 && n > INT64_MAX / m) || (n > 0 && !a->b1) || (m > 0 && !a->b2) ||
        (n > 0 && m > 0 && !a->out))
        return LOSSK_ERR_INVALID_ARGUMENT;
    if (n == 0 || m == 0) return LOSSK_OK;
    a->nt = n * m >= LOSSK_NT_STORE_MIN_BYTES / (int64_t)elem;
    const int64_t block = lossk__block_items(m, PAIR_BLOCK_ELEMS);
    const int64_t n_blocks = (n - 1) / block + 1;
    return lossk__run_blocks(n, block, lossk__threads_for(n_threads, n * m, n_blocks), 0,
                             (size_t)(5 + 1) * BOX_TILE * elem, kern->pair_block, a, NULL, NULL);
}

#define PAIR_ENTRIES(sfx, T)                                                                       \
    lossk_status lossk_box_iou_##sfx(const T *boxes1, int64_t n, const T *boxes2, int64_t m,       \
                                     lossk_box_format format, T *out, int n_threads) {             \
        pair_args a = {boxes1, boxes2, n, m, format, 0, out, 0};                                   \
        return pair_run(&a, BOX_KERNELS(sfx), sizeof(T), n_threads);                               \
    }                                                                                              \
    lossk_status lossk_generalized_box_iou_##sfx(const T *boxes1, int64_t n, const T *boxes2,      \
                                                 int64_t m, lossk_box_format format, T *out,       \
                                                 int n_threads) {                                  \
        pair_args a = {boxes1, boxes2, n, m, format, 1, out, 0};                                   \
        return pair_run(&a, BOX_KERNELS(sfx), sizeof(T), n_threads);                               \
    }
PAIR_ENTRIES(f32, float)
PAIR_ENTRIES(f64, double)

#else /* LOSSK_TEMPLATE_PASS: one SIMD level, one dtype (real) */

#include "pass_helpers.h"

#undef BOX_ATAN_DIV
#undef BOX_LOG
#undef BOX_COPYSIGN
#undef BOX_FABS
#if LOSSK_F64
#  define BOX_ATAN_DIV lossk_atan_div
#  define BOX_LOG lossk_log
#  define BOX_COPYSIGN copysign
#  define BOX_FABS fabs
#else
#  define BOX_ATAN_DIV lossk_atan_divf
#  define BOX_LOG lossk_logf
#  define BOX_COPYSIGN copysignf
#  define BOX_FABS fabsf
#endif
#ifndef BOX_GEO
#  define BOX_GEO LOSSK_FN(box_geo)
#  define BOX_DL LOSSK_FN(box_dl)
#  define BOX_PRM LOSSK_FN(box_prm)
#endif

/* Everything box_backward needs of one pair. */
typedef struct BOX_GEO {
    real w, h, wg, hg;
    real iw, ih, inter, u, r_ue, iou;  /* r_ue = 1/(U + eps) */
    int overlap;                       /* iw > 0 and ih > 0: I counts */
    real six1, siy1, six2, siy2;       /* d max(x1,X1)/dx1, ..., d min(x2,X2)/dx2, ...: 1, 1/2 at a tie, 0 */
    real cw, ch, dx, dy;
} BOX_GEO;

/* dL/d(quantity) of one pair, the quantities taken as independent. */
typedef struct BOX_DL { real iou, u, cw, ch, dx, dy, w, h; } BOX_DL;

/* Loss options in the pass's type. */
typedef struct BOX_PRM {
    real eps, one_eps, gamma, theta, inv_mean, log_alpha, delta, inv_delta;
    int alpha_yolo;
} BOX_PRM;

/* 1/x, and 0 where x = 0. Every denominator goes through it: those that
   can be 0 are 0 only for degenerate or inverted boxes (or eps = 0), where
   torch divides by zero; elsewhere it is the plain reciprocal. */
LOSSK_INLINE real LOSSK_FN(recip0)(real x) { return x != 0 ? (real)1 / x : (real)0; }

/* d max(a, b)/da as torch: 1, 1/2 at a tie, 0. */
LOSSK_INLINE real LOSSK_FN(share_gt)(real a, real b) {
    return a > b ? (real)1 : a == b ? (real)0.5 : (real)0;
}

LOSSK_INLINE real LOSSK_FN(sign)(real x) { return x > 0 ? (real)1 : x < 0 ? (real)-1 : (real)0; }

/* Corners of a box given in `format` (torchvision's box_convert formulas). */
LOSSK_INLINE void LOSSK_FN(box_corners)(int format, const real *b, real *c) {
    if (format == LOSSK_BOX_XYWH) {
        c[0] = b[0]; c[1] = b[1]; c[2] = b[0] + b[2]; c[3] = b[1] + b[3];
    } else if (format == LOSSK_BOX_CXCYWH) {
        c[0] = b[0] - (real)0.5 * b[2]; c[1] = b[1] - (real)0.5 * b[3];
        c[2] = b[0] + (real)0.5 * b[2]; c[3] = b[1] + (real)0.5 * b[3];
    } else {
        c[0] = b[0]; c[1] = b[1]; c[2] = b[2]; c[3] = b[3];
    }
}

/* Gradient w.r.t. the box in `format` from the gradient g w.r.t. its corners
   (the transposed Jacobian of box_corners). */
LOSSK_INLINE void LOSSK_FN(box_grad_format)(int format, const real *g, real *o) {
    if (format == LOSSK_BOX_XYWH) {
        o[0] = g[0] + g[2]; o[1] = g[1] + g[3]; o[2] = g[2]; o[3] = g[3];
    } else if (format == LOSSK_BOX_CXCYWH) {
        o[0] = g[0] + g[2]; o[1] = g[1] + g[3];
        o[2] = (real)0.5 * (g[2] - g[0]); o[3] = (real)0.5 * (g[3] - g[1]);
    } else {
        o[0] = g[0]; o[1] = g[1]; o[2] = g[2]; o[3] = g[3];
    }
}

/* Intersection extents and area of corner boxes p, t (the torchvision mask:
   an extent <= 0 gives area 0, which equals clamp(min=0) semantics). */
LOSSK_INLINE real LOSSK_FN(box_inter)(const real *p, const real *t, real *iw, real *ih, int *overlap) {
    const real ix1 = p[0] > t[0] ? p[0] : t[0], iy1 = p[1] > t[1] ? p[1] : t[1];
    const real ix2 = p[2] < t[2] ? p[2] : t[2], iy2 = p[3] < t[3] ? p[3] : t[3];
    *iw = ix2 - ix1;
    *ih = iy2 - iy1;
    *overlap = (ix2 > ix1) & (iy2 > iy1);
    return *overlap ? *iw * *ih : (real)0;
}

/* Size of the smallest box enclosing p and t. */
LOSSK_INLINE void LOSSK_FN(box_enclose)(const real *p, const real *t, real *cw, real *ch) {
    *cw = (p[2] > t[2] ? p[2] : t[2]) - (p[0] < t[0] ? p[0] : t[0]);
    *ch = (p[3] > t[3] ? p[3] : t[3]) - (p[1] < t[1] ? p[1] : t[1]);
}

LOSSK_INLINE void LOSSK_FN(box_geometry)(const real *p, const real *t, real eps, BOX_GEO *g) {
    g->w = p[2] - p[0]; g->h = p[3] - p[1];
    g->wg = t[2] - t[0]; g->hg = t[3] - t[1];
    g->inter = LOSSK_FN(box_inter)(p, t, &g->iw, &g->ih, &g->overlap);
    g->u = g->w * g->h + g->wg * g->hg - g->inter;
    /* U + eps = 0 needs an inverted box, which has I = 0: IoU 0, not 0/0 */
    g->r_ue = LOSSK_FN(recip0)(g->u + eps);
    g->iou = g->inter * g->r_ue;
    g->six1 = LOSSK_FN(share_gt)(p[0], t[0]); g->siy1 = LOSSK_FN(share_gt)(p[1], t[1]);
    g->six2 = LOSSK_FN(share_gt)(t[2], p[2]); g->siy2 = LOSSK_FN(share_gt)(t[3], p[3]);
    LOSSK_FN(box_enclose)(p, t, &g->cw, &g->ch);
    g->dx = (p[2] + p[0]) * (real)0.5 - (t[0] + t[2]) * (real)0.5;
    g->dy = (p[3] + p[1]) * (real)0.5 - (t[1] + t[3]) * (real)0.5;
}

/* d(pair loss)/d(x1, y1, x2, y2) from the partials d. */
LOSSK_INLINE void LOSSK_FN(box_backward)(const BOX_GEO *g, const BOX_DL *d, real *o) {
    const real gu = d->u - d->iou * g->iou * g->r_ue;   /* dIoU/dU = -IoU/(U + eps) */
    const real gi = d->iou * g->r_ue - gu;              /* U = w h + wg hg - I */
    const real gw = d->w + gu * g->h, gh = d->h + gu * g->w;
    const real giw = g->overlap ? gi * g->ih : (real)0, gih = g->overlap ? gi * g->iw : (real)0;
    /* iw = min(x2,X2) - max(x1,X1), cw = max(x2,X2) - min(x1,X1): the
       enclosing box takes the complementary shares s, 1 - s, so
       dx1 = dx/2 - w' - (giw s + cw' (1 - s)) = dx/2 - (w' + cw') - s (giw - cw') */
    const real hx = (real)0.5 * d->dx, hy = (real)0.5 * d->dy;
    const real ex = giw - d->cw, ey = gih - d->ch, ax = gw + d->cw, ay = gh + d->ch;
    o[0] = (hx - ax) - g->six1 * ex;
    o[1] = (hy - ay) - g->siy1 * ey;
    o[2] = (hx + ax) + g->six2 * ex;
    o[3] = (hy + ay) + g->siy2 * ey;
}

LOSSK_INLINE void LOSSK_FN(dl_scale)(BOX_DL *d, real f) {
    d->iou *= f; d->u *= f; d->cw *= f; d->ch *= f; d->dx *= f; d->dy *= f; d->w *= f; d->h *= f;
}

/* DIoU's rho^2 / (cw^2 + ch^2 + eps). */
LOSSK_INLINE real LOSSK_FN(centre_penalty)(const BOX_GEO *g, real eps, int want_grad, BOX_DL *d) {
    const real r = LOSSK_FN(recip0)(g->cw * g->cw + g->ch * g->ch + eps);
    const real pen = (g->dx * g->dx + g->dy * g->dy) * r;
    if (want_grad) {
        d->dx += 2 * g->dx * r; d->dy += 2 * g->dy * r;
        d->cw -= 2 * g->cw * pen * r; d->ch -= 2 * g->ch * pen * r;
    }
    return pen;
}

/* A box size clamped to +-sqrt(max)/4, so that the products of two of them
   (and their sums) stay finite: an infinite size then gives the angle
   atan(+-inf/h) = +-pi/2 as the separate atans do, not inf/inf. NaN stays.
   Only BOX_CIOU_HUGE clamps (4 % of CIoU's time): the common path leaves
   inf/inf = NaN in the loss, and a tile with a NaN loss is recomputed. */
LOSSK_INLINE real LOSSK_FN(clamp_size)(real v) {
#if LOSSK_F64
    const real big = (real)3.3519519824856493e153;
#else
    const real big = (real)4.6116860e18f;
#endif
    const real mag = BOX_FABS(v);
    return BOX_COPYSIGN(mag > big ? big : mag, v);
}

/* CIoU's angle difference atan(wg/hg) - atan(w/h) as one atan: with
   s = sign(hg) sign(h) (of zeros too), it is atan2(s (wg h - w hg),
   s (hg h + wg w)) (sine and cosine of the difference, times the positive
   |hg| |h| / (|(wg, hg)| |(w, h)|)): one division instead of two. At h = 0,
   atan(w/h) = +-pi/2 as the IEEE quotient gives (so do the signs of s); a
   zero-size box (w = h = 0, NaN in torch) has angle 0 (h taken as 1). */
LOSSK_INLINE real LOSSK_FN(angle_diff)(real w, real h, real wg, real hg, int clamp) {
    if (clamp) {
        w = LOSSK_FN(clamp_size)(w); h = LOSSK_FN(clamp_size)(h);
        wg = LOSSK_FN(clamp_size)(wg); hg = LOSSK_FN(clamp_size)(hg);
    }
    const real hs = ((w == 0) & (h == 0)) ? (real)1 : h, hgs = ((wg == 0) & (hg == 0)) ? (real)1 : hg;
    const real s = BOX_COPYSIGN((real)1, hs) * BOX_COPYSIGN((real)1, hgs);
    const real y = s * (wg * hs - w * hgs), x = s * (hgs * hs + wg * w);
    const real a = BOX_ATAN_DIV(y, x);
    return BOX_COPYSIGN((real)1, x) < 0 ? a + BOX_COPYSIGN((real)3.14159265358979323846, y) : a;
}

/* Partials of atan(w/h): h/(w^2 + h^2), -w/(w^2 + h^2), finite where torch's
   1/(1 + r^2) * (1/h) is 0 * inf (h = 0); 0 for a zero-size box. */
LOSSK_INLINE void LOSSK_FN(angle_partials)(real w, real h, real *dw, real *dh) {
    const real r = LOSSK_FN(recip0)(w * w + h * h);
    *dw = h * r;
    *dh = -w * r;
}

/* (w - wg)^2 / (cw^2 + eps), EIoU's size term along one axis. */
LOSSK_INLINE real LOSSK_FN(size_penalty)(real w, real wg, real cw, real eps, int want_grad,
                                         real *dw, real *dcw) {
    const real r = LOSSK_FN(recip0)(cw * cw + eps), diff = w - wg, pen = diff * diff * r;
    if (want_grad) { *dw += 2 * diff * r; *dcw -= 2 * cw * pen * r; }
    return pen;
}

/* SIoU: 1 - exp(-gamma rho), rho = (offset / enclosing size)^2, one axis. */
LOSSK_INLINE real LOSSK_FN(siou_distance)(real off, real size, real gamma, real eps, int want_grad,
                                          real *dgamma, real *doff, real *dsize) {
    const real r = LOSSK_FN(recip0)(size * size + eps), rho = off * off * r;
    const real e = LOSSK_EXP(-gamma * rho);
    if (want_grad) {
        *dgamma += rho * e;
        *doff += gamma * e * 2 * off * r;
        *dsize -= gamma * e * 2 * size * rho * r;
    }
    return 1 - e;
}

/* SIoU: (1 - exp(-omega))^theta, omega = |w - wg| / max(w, wg, eps), one axis. */
LOSSK_INLINE real LOSSK_FN(siou_shape)(real w, real wg, const BOX_PRM *prm, int want_grad, real *dw) {
    const int w_max = (w > wg) & (w > prm->eps);
    real m = w > wg ? w : wg;
    m = m > prm->eps ? m : prm->eps;
    const real rm = LOSSK_FN(recip0)(m);                /* 0 only when eps = 0 */
    const real omega = (w > wg ? w - wg : wg - w) * rm;
    const real e = LOSSK_EXP(-omega), base = 1 - e;
    const real lb = BOX_LOG(base);                      /* -inf at omega = 0: base^theta = 0 */
    const real pw = LOSSK_EXP(prm->theta * lb);
    if (want_grad) {
        const real dpow = prm->theta == 1 ? (real)1 : prm->theta * LOSSK_EXP((prm->theta - 1) * lb);
        const real domega = LOSSK_FN(sign)(w - wg) * rm - (w_max ? omega * rm : (real)0);
        *dw += dpow * e * domega;
    }
    return pw;
}

/* The loss of one pair, and (want_grad) its partials in d. kind and
   want_grad are constants at every call site, so each instantiation keeps
   only its own variant. */
LOSSK_INLINE real LOSSK_FN(box_loss_pair)(int kind, int want_grad, const BOX_PRM *prm,
                                          const real *p, const real *t, BOX_GEO *g, BOX_DL *d) {
    const real eps = prm->eps;
    LOSSK_FN(box_geometry)(p, t, eps, g);
    real loss = 1 - g->iou;
    d->iou = -1; d->u = d->cw = d->ch = d->dx = d->dy = d->w = d->h = 0;
    switch (kind) {
    case BOX_GIOU: {
        /* + (C - U)/(C + eps), C = cw ch; C + eps = 0 needs an inverted box */
        const real c = g->cw * g->ch, r = LOSSK_FN(recip0)(c + eps), term = (c - g->u) * r;
        loss += term;
        if (want_grad) {
            const real dc = r * (1 - term);
            d->u = -r; d->cw = dc * g->ch; d->ch = dc * g->cw;
        }
        break;
    }
    case BOX_DIOU:
        loss += LOSSK_FN(centre_penalty)(g, eps, want_grad, d);
        break;
    case BOX_CIOU: case BOX_CIOU_HUGE: {
        /* + alpha v, v = 4/pi^2 (atan(wg/hg) - atan(w/h))^2, alpha constant */
        loss += LOSSK_FN(centre_penalty)(g, eps, want_grad, d);
        const real diff = LOSSK_FN(angle_diff)(g->w, g->h, g->wg, g->hg, kind == BOX_CIOU_HUGE);
        const real v = (real)0.40528473456935108578 * diff * diff;
        const real den = prm->alpha_yolo ? v - g->iou + prm->one_eps : 1 - g->iou + v + eps;
        const real alpha = v * LOSSK_FN(recip0)(den);   /* den >= eps unless IoU > 1 (eps = 0) */
        loss += alpha * v;
        if (want_grad) {
            const real dangle = alpha * (real)-0.81056946913870217156 * diff;  /* d(alpha v)/d atan(w/h) */
            real dpw, dph;
            LOSSK_FN(angle_partials)(g->w, g->h, &dpw, &dph);
            d->w += dangle * dpw; d->h += dangle * dph;
        }
        break;
    }
    case BOX_EIOU: case BOX_EIOU_FOCAL: {
        loss += LOSSK_FN(centre_penalty)(g, eps, want_grad, d);
        loss += LOSSK_FN(size_penalty)(g->w, g->wg, g->cw, eps, want_grad, &d->w, &d->cw);
        loss += LOSSK_FN(size_penalty)(g->h, g->hg, g->ch, eps, want_grad, &d->h, &d->ch);
        if (kind == BOX_EIOU_FOCAL) {
            /* IoU^gamma, a constant for the gradient; IoU <= 0 (< 0 only with
               eps = 0 and a negative union) gives 0, also when gamma > 0
               rounds to 0 in float */
            const real f = g->iou <= 0 ? (real)0 : LOSSK_EXP(prm->gamma * BOX_LOG(g->iou));
            loss *= f;
            if (want_grad) LOSSK_FN(dl_scale)(d, f);
        }
        break;
    }
    case BOX_SIOU: {
        /* angle cost Lambda = sin(2 alpha) = 2 |dx| |dy| / (dx^2 + dy^2): the
           paper's 1 - 2 sin^2(arcsin(x) - pi/4) with x = sin(alpha), equal for
           the other angle past 45 degrees; 0 for coincident centres */
        const real adx = g->dx > 0 ? g->dx : -g->dx, ady = g->dy > 0 ? g->dy : -g->dy;
        const real rs = LOSSK_FN(recip0)(g->dx * g->dx + g->dy * g->dy);
        const real lambda = 2 * adx * ady * rs, gamma = 2 - lambda;
        real dgamma = 0, dw = 0, dh = 0;
        const real dist =
            LOSSK_FN(siou_distance)(g->dx, g->cw, gamma, eps, want_grad, &dgamma, &d->dx, &d->cw) +
            LOSSK_FN(siou_distance)(g->dy, g->ch, gamma, eps, want_grad, &dgamma, &d->dy, &d->ch);
        const real shape = LOSSK_FN(siou_shape)(g->w, g->wg, prm, want_grad, &dw) +
                           LOSSK_FN(siou_shape)(g->h, g->hg, prm, want_grad, &dh);
        loss += (real)0.5 * (dist + shape);
        if (want_grad) {
            /* dLambda/d|dx| = 2 |dy| (dy^2 - dx^2) / (dx^2 + dy^2)^2; gamma = 2 - Lambda */
            const real k = -dgamma * 2 * rs * rs * (ady * ady - adx * adx);
            d->dx = (real)0.5 * (d->dx + k * ady * LOSSK_FN(sign)(g->dx));
            d->dy = (real)0.5 * (d->dy - k * adx * LOSSK_FN(sign)(g->dy));
            d->cw *= (real)0.5; d->ch *= (real)0.5;
            d->w = (real)0.5 * dw; d->h = (real)0.5 * dh;
        }
        break;
    }
    case BOX_WIOU1: case BOX_WIOU3: {
        /* R (1 - IoU), R = exp(rho^2 / (cw^2 + ch^2 + eps)*), the denominator a
           constant. The ratio is < 1 for valid boxes (both centres lie in the
           enclosing box); it is clamped at 1 so inverted boxes stay finite. */
        const real r = LOSSK_FN(recip0)(g->cw * g->cw + g->ch * g->ch + eps);
        const real ratio = (g->dx * g->dx + g->dy * g->dy) * r;
        const int capped = ratio > 1;
        const real big_r = LOSSK_EXP(capped ? (real)1 : ratio), liou = loss;
        loss = big_r * liou;
        if (want_grad) {
            d->iou = -big_r;
            const real k = capped ? (real)0 : 2 * liou * big_r * r;
            d->dx = k * g->dx; d->dy = k * g->dy;
        }
        if (kind == BOX_WIOU3) {
            /* r = beta / (delta alpha^(beta - delta)), beta = (1 - IoU)* / mean: a constant */
            const real beta = liou * prm->inv_mean;
            const real f = beta * prm->inv_delta * LOSSK_EXP((prm->delta - beta) * prm->log_alpha);
            loss *= f;
            if (want_grad) LOSSK_FN(dl_scale)(d, f);
        }
        break;
    }
    default: /* BOX_IOU */
        break;
    }
    return loss;
}

/* Boxes [0, len) of src (caller's format, interleaved) to corners, coordinate
   k of box i at dst[k * row + i * col]: corner rows (row = BOX_TILE, col = 1)
   or interleaved corners (row = 1, col = 4). */
LOSSK_INLINE void LOSSK_FN(tile_load_fmt)(int format, const real *LOSSK_RESTRICT src, int64_t len,
                                          real *LOSSK_RESTRICT dst, int64_t row, int64_t col) {
    for (int64_t i = 0; i < len; i++) {
        real c[4];
        LOSSK_FN(box_corners)(format, src + 4 * i, c);
        for (int k = 0; k < 4; k++) dst[k * row + i * col] = c[k];
    }
}

#ifndef BOX_LOAD_FN
#  define BOX_LOAD_FN(name, row, col)                                                      \
    static void LOSSK_FN(name)(int format, const real *src, int64_t len, real *dst) {      \
        if (format == LOSSK_BOX_XYWH)                                                      \
            LOSSK_FN(tile_load_fmt)(LOSSK_BOX_XYWH, src, len, dst, row, col);              \
        else if (format == LOSSK_BOX_CXCYWH)                                               \
            LOSSK_FN(tile_load_fmt)(LOSSK_BOX_CXCYWH, src, len, dst, row, col);            \
        else                                                                               \
            LOSSK_FN(tile_load_fmt)(LOSSK_BOX_XYXY, src, len, dst, row, col);              \
    }
#endif
BOX_LOAD_FN(tile_load_rows, BOX_TILE, 1)   /* pairwise: boxes2's tile as rows */
BOX_LOAD_FN(tile_load_corners, 1, 4)       /* losses: other formats to corners */

/* scale * gradient rows g[0..3][i] into the caller's format, interleaved. */
LOSSK_INLINE void LOSSK_FN(tile_store_fmt)(int format, const real *LOSSK_RESTRICT g, int64_t len,
                                           real scale, real *LOSSK_RESTRICT dst) {
    for (int64_t i = 0; i < len; i++) {
        /* scaled after the format's sums, as the reference does (with huge
           opposite corner gradients, the order shows in the last bits) */
        const real c[4] = {g[i], g[BOX_TILE + i], g[2 * BOX_TILE + i], g[3 * BOX_TILE + i]};
        real o[4];
        LOSSK_FN(box_grad_format)(format, c, o);
        for (int k = 0; k < 4; k++) dst[4 * i + k] = o[k] * scale;
    }
}

static void LOSSK_FN(tile_store)(int format, const real *g, int64_t len, real scale, real *dst) {
    switch (format) {
    case LOSSK_BOX_XYWH: LOSSK_FN(tile_store_fmt)(LOSSK_BOX_XYWH, g, len, scale, dst); break;
    case LOSSK_BOX_CXCYWH: LOSSK_FN(tile_store_fmt)(LOSSK_BOX_CXCYWH, g, len, scale, dst); break;
    default: LOSSK_FN(tile_store_fmt)(LOSSK_BOX_XYXY, g, len, scale, dst); break;
    }
}

/* One tile: pred and target boxes in corners, interleaved (for xyxy the
   caller's arrays themselves: the loop deinterleaves in registers); out: the
   losses and the 4 corner-gradient rows, in scratch (grad may alias pred). */
LOSSK_INLINE void LOSSK_FN(tile_compute)(int kind, int want_grad, const BOX_PRM *prm,
                                         const real *LOSSK_RESTRICT pred,
                                         const real *LOSSK_RESTRICT target, int64_t len,
                                         real *LOSSK_RESTRICT loss, real *LOSSK_RESTRICT g) {
    const BOX_PRM local = *prm;  /* provably loop-invariant (no masked loads of options) */
    for (int64_t i = 0; i < len; i++) {
        const real p[4] = {pred[4 * i], pred[4 * i + 1], pred[4 * i + 2], pred[4 * i + 3]};
        const real t[4] = {target[4 * i], target[4 * i + 1], target[4 * i + 2], target[4 * i + 3]};
        BOX_GEO geo;
        BOX_DL d;
        loss[i] = LOSSK_FN(box_loss_pair)(kind, want_grad, &local, p, t, &geo, &d);
        if (want_grad) {
            real o[4];
            LOSSK_FN(box_backward)(&geo, &d, o);
            g[i] = o[0]; g[BOX_TILE + i] = o[1]; g[2 * BOX_TILE + i] = o[2]; g[3 * BOX_TILE + i] = o[3];
        }
    }
}

/* One function per variant (kept apart so each is compiled, and
   vectorized, on its own), both gradient modes in it. */
typedef void (*LOSSK_FN(tile_fn))(int want_grad, const BOX_PRM *prm, const real *pred,
                                  const real *target, int64_t len, real *loss, real *g);
#ifndef BOX_TILE_FN
#  define BOX_TILE_FN(name, kind)                                                          \
    static LOSSK_NOINLINE void LOSSK_FN(name)(int want_grad, const BOX_PRM *prm,           \
                                              const real *pred, const real *target,        \
                                              int64_t len, real *loss, real *g) {          \
        if (want_grad) LOSSK_FN(tile_compute)(kind, 1, prm, pred, target, len, loss, g);   \
        else LOSSK_FN(tile_compute)(kind, 0, prm, pred, target, len, loss, g);             \
    }
#endif
BOX_TILE_FN(tile_iou, BOX_IOU)
BOX_TILE_FN(tile_giou, BOX_GIOU)
BOX_TILE_FN(tile_diou, BOX_DIOU)
BOX_TILE_FN(tile_ciou, BOX_CIOU)
BOX_TILE_FN(tile_ciou_huge, BOX_CIOU_HUGE)
BOX_TILE_FN(tile_eiou, BOX_EIOU)
BOX_TILE_FN(tile_eiou_focal, BOX_EIOU_FOCAL)
BOX_TILE_FN(tile_siou, BOX_SIOU)
BOX_TILE_FN(tile_wiou1, BOX_WIOU1)
BOX_TILE_FN(tile_wiou3, BOX_WIOU3)

/* Indexed by enum box_kind. */
static const LOSSK_FN(tile_fn) LOSSK_FN(tile_fns)[] = {
    LOSSK_FN(tile_iou), LOSSK_FN(tile_giou), LOSSK_FN(tile_diou), LOSSK_FN(tile_ciou),
    LOSSK_FN(tile_eiou), LOSSK_FN(tile_eiou_focal), LOSSK_FN(tile_siou), LOSSK_FN(tile_wiou1),
    LOSSK_FN(tile_wiou3), LOSSK_FN(tile_ciou_huge),
};

/* Whether v[0..len) holds a NaN (lane-wise, so it vectorizes). */
static int LOSSK_FN(any_nan)(const real *v, int64_t len) {
    int nan = 0;
    for (int64_t i = 0; i < len; i++) nan |= v[i] != v[i];
    return nan;
}

/* An option in the pass's type, huge values clamped to its largest finite
   value (theta = 1e300 in float would be inf, and inf * 0 NaN). NaN stays. */
static real LOSSK_FN(real_of)(double v) {
#if LOSSK_F64
    return v;
#else
    return v > 3.4028234663852886e38 ? 3.40282347e38f : v < -3.4028234663852886e38 ? -3.40282347e38f : (real)v;
#endif
}

static int64_t LOSSK_FN(box_loss_block)(const void *ctx, int64_t begin, int64_t end, double *acc,
                                        void *scratch) {
    const box_args *a = (const box_args *)ctx;
    const real *pred = (const real *)a->pred, *target = (const real *)a->target;
    real *grad = (real *)a->grad, *loss_none = (real *)a->loss_none;
    real *in = (real *)scratch, *loss = in + 8 * BOX_TILE, *g = loss + BOX_TILE, *gi = g + 4 * BOX_TILE;
    BOX_PRM prm;
    prm.eps = LOSSK_FN(real_of)(a->eps);
    prm.one_eps = LOSSK_FN(real_of)(1.0 + a->eps);
    prm.gamma = LOSSK_FN(real_of)(a->gamma);
    prm.theta = LOSSK_FN(real_of)(a->theta);
    prm.inv_mean = LOSSK_FN(real_of)(a->inv_mean);
    prm.log_alpha = LOSSK_FN(real_of)(a->log_alpha);
    prm.delta = LOSSK_FN(real_of)(a->delta);
    prm.inv_delta = LOSSK_FN(real_of)(a->delta > 0.0 ? 1.0 / a->delta : 0.0);
    prm.alpha_yolo = a->alpha_yolo;
    const real scale = (real)a->scale;
    const LOSSK_FN(tile_fn) tile = LOSSK_FN(tile_fns)[a->kind];
    double lanes[LOSSK_LANES];
    for (int l = 0; l < LOSSK_LANES; l++) lanes[l] = 0.0;
    double tail = 0.0;
    for (int64_t i0 = begin; i0 < end; i0 += BOX_TILE) {
        const int64_t len = end - i0 < BOX_TILE ? end - i0 : BOX_TILE;
        const real *tp = pred + 4 * i0, *tt = target + 4 * i0;
        if (a->format != LOSSK_BOX_XYXY) {
            LOSSK_FN(tile_load_corners)(a->format, tp, len, in);
            LOSSK_FN(tile_load_corners)(a->format, tt, len, in + 4 * BOX_TILE);
            tp = in;
            tt = in + 4 * BOX_TILE;
        }
        tile(grad != NULL, &prm, tp, tt, len, loss, g);
        if (a->kind == BOX_CIOU && LOSSK_FN(any_nan)(loss, len))
            LOSSK_FN(tile_ciou_huge)(grad != NULL, &prm, tp, tt, len, loss, g);
        if (grad) {
            /* pred's tile is fully read above: grad may alias it */
            if (a->nt) {
                LOSSK_FN(tile_store)(a->format, g, len, scale, gi);
                LOSSK_FN(stream_copy)(grad + 4 * i0, gi, 4 * len);
            } else {
                LOSSK_FN(tile_store)(a->format, g, len, scale, grad + 4 * i0);
            }
        }
        if (loss_none) memcpy(loss_none + i0, loss, (size_t)len * sizeof(real));
        int64_t i = 0;
        for (; i + LOSSK_LANES <= len; i += LOSSK_LANES)
            for (int l = 0; l < LOSSK_LANES; l++) lanes[l] += (double)loss[i + l];
        for (; i < len; i++) tail += (double)loss[i];
    }
    if (a->nt) lossk__stream_fence();
    double s = 0.0;
    for (int l = 0; l < LOSSK_LANES; l++) s += lanes[l];
    acc[0] = s + tail;
    return -1;
}

/* Rows [begin, end) of the n x m matrix: torchvision's box_iou (inter/union,
   no eps) or generalized_box_iou (iou - (C - union)/C, C of the enclosing box
   clamped at 0). boxes2 goes through scratch tile by tile in corners. */
static int64_t LOSSK_FN(pair_block)(const void *ctx, int64_t begin, int64_t end, double *acc,
                                    void *scratch) {
    const pair_args *a = (const pair_args *)ctx;
    const real *b1 = (const real *)a->b1, *b2 = (const real *)a->b2;
    real *out = (real *)a->out;
    real *c = (real *)scratch, *area2 = c + 4 * BOX_TILE, *buf = area2 + BOX_TILE;
    const int64_t m = a->m;
    (void)acc;
    for (int64_t j0 = 0; j0 < m; j0 += BOX_TILE) {
        const int64_t len = m - j0 < BOX_TILE ? m - j0 : BOX_TILE;
        LOSSK_FN(tile_load_rows)(a->format, b2 + 4 * j0, len, c);
        for (int64_t j = 0; j < len; j++)
            area2[j] = (c[2 * BOX_TILE + j] - c[j]) * (c[3 * BOX_TILE + j] - c[BOX_TILE + j]);
        for (int64_t i = begin; i < end; i++) {
            real p[4];
            LOSSK_FN(box_corners)(a->format, b1 + 4 * i, p);
            const real area1 = (p[2] - p[0]) * (p[3] - p[1]);
            real *dst = a->nt ? buf : out + i * m + j0;
            if (a->generalized) {
                for (int64_t j = 0; j < len; j++) {
                    const real t[4] = {c[j], c[BOX_TILE + j], c[2 * BOX_TILE + j], c[3 * BOX_TILE + j]};
                    real iw, ih, cw, ch;
                    int overlap;
                    const real inter = LOSSK_FN(box_inter)(p, t, &iw, &ih, &overlap);
                    const real uni = area1 + area2[j] - inter;
                    LOSSK_FN(box_enclose)(p, t, &cw, &ch);
                    const real area_c = (cw > 0 ? cw : (real)0) * (ch > 0 ? ch : (real)0);
                    dst[j] = inter / uni - (area_c - uni) / area_c;
                }
            } else {
                for (int64_t j = 0; j < len; j++) {
                    const real t[4] = {c[j], c[BOX_TILE + j], c[2 * BOX_TILE + j], c[3 * BOX_TILE + j]};
                    real iw, ih;
                    int overlap;
                    const real inter = LOSSK_FN(box_inter)(p, t, &iw, &ih, &overlap);
                    dst[j] = inter / (area1 + area2[j] - inter);
                }
            }
            if (a->nt) LOSSK_FN(stream_copy)(out + i * m + j0, buf, len);
        }
    }
    if (a->nt) lossk__stream_fence();
    return -1;
}

static const box_kernels LOSSK_FN(box_kernels) = {
    LOSSK_FN(box_loss_block),
    LOSSK_FN(pair_block),
};

#endif /* LOSSK_TEMPLATE_PASS */
