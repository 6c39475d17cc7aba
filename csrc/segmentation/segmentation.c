/*
 * Segmentation losses (segmentation_models_pytorch 0.6's DiceLoss and
 * TverskyLoss), one family entry for both: dice is Tversky with
 * alpha = beta = 1/2 and gamma = 1, as in SMP.
 *
 * pred is n x c x inner. Per element, p = softmax over c (index targets),
 * sigmoid (masks) or pred itself; m = 0 for ignored elements, else 1; pm = p m,
 * t = the target (one-hot of a class index, or the mask value) times m.
 * Per class k (and image, with per_image), SMP's three sums:
 *   Sp = sum pm, St = sum t, D = sum |pm - t|   (SMP's L1 form),
 *   I = (Sp + St - D) / 2, fp = Sp - I, fn = St - I,
 *   score = (I + smooth) / max(I + alpha fp + beta fn + smooth, eps),
 *   L_k = (1 - score) [St > 0].
 * MEAN: (sum_k L_k / K)^gamma; NONE: the L_k.
 *
 * Two passes over the pixels. Pass 1 computes p and the three sums in tiles
 * of a fixed number of pixels of one image (a function of c only), tiles
 * grouped into blocks of a fixed size, blocks added in order: the sums do not
 * depend on the thread count. Pass 2 writes dL/dpred = dL/dpm chained through
 * the activation, with
 *   dL/dpm = a_k + b_k sign(pm - t)   (dSp/dpm = 1, dD/dpm = sign, torch's 0 at 0).
 * The softmax (multiclass from logits, half the time of the two passes when
 * recomputed) is computed once: pass 1 stores p in grad (which has pred's
 * shape; each tile reads its own logits before writing them, so grad may be
 * pred), pass 2 reads p back. The class indices are then checked before pass 1,
 * so that nothing is written when one is out of range. Sigmoid and identity
 * are recomputed in pass 2 (cheaper than the store and the read).
 * Multiclass from logits runs on strips (seg_strip_sums, seg_strip_grad):
 * LOSSK_LANES neighbouring pixels in vectors, the classes in a loop, the
 * exps and the softmax's backward lane-wise, per-class lane accumulators.
 */
#ifndef LOSSK_TEMPLATE_PASS

#include <limits.h>
#include <stdlib.h>

#include "internal.h"

/* Elements per tile (c x tile pixels): the tile's exps stay in L1/L2. */
#define SEG_TILE_ELEMS ((int64_t)4096)
#define SEG_TILE_MIN ((int64_t)16)
#define SEG_TILE_MAX ((int64_t)1024)
/* Elements per block of tiles (the unit of the thread split and of the sums). */
#define SEG_BLOCK_ELEMS ((int64_t)65536)

typedef enum seg_act { SEG_NONE = 0, SEG_SOFTMAX = 1, SEG_SIGMOID = 2 } seg_act;

typedef struct seg_ctx {
    const void *x, *target;
    int64_t n, c, inner, tile, tiles_per_image;
    int index_target;
    lossk_index_type target_type;
    seg_act act;
    int has_ignore;
    int64_t ignore_index;
    double *tile_sums;       /* per_image: 3c sums per tile (else the block accumulators) */
    const double *coef;      /* pass 2: a then b, c each (per_image: per image) */
    int per_image;
    void *grad;
    int store_p;             /* pass 1 writes the softmax into grad, pass 2 reads it */
} seg_ctx;

/* Tile `t`: its image and first pixel; returns its width. */
static int64_t seg_tile(const seg_ctx *a, int64_t t, int64_t *img, int64_t *j0) {
    *img = t / a->tiles_per_image;
    *j0 = (t % a->tiles_per_image) * a->tile;
    return a->inner - *j0 < a->tile ? a->inner - *j0 : a->tile;
}

/* Scratch of a thread: the tile's exps (c x tile), six per-pixel rows (the
   int32 class row y in one), then c per-class counts. */
static size_t seg_scratch_bytes(int64_t c, int64_t tile) {
    /* + the strip kernels' four c x 16 rows (two accumulators, a padded strip, G) */
    return (size_t)((c + 7) * tile + c + 4 * 16 * c) * sizeof(double) + 128;
}

#define LOSSK_TEMPLATE_FILE "segmentation/segmentation.c"
#include "multiarch.h"

typedef struct seg_kernels {
    lossk_block_fn sums, grad;
} seg_kernels;

static const seg_kernels seg_f32_baseline = {seg_sums_block_f32_baseline, seg_grad_block_f32_baseline};
static const seg_kernels seg_f64_baseline = {seg_sums_block_f64_baseline, seg_grad_block_f64_baseline};
#if LOSSK_MULTIARCH
static const seg_kernels seg_f32_avx2 = {seg_sums_block_f32_avx2, seg_grad_block_f32_avx2};
static const seg_kernels seg_f64_avx2 = {seg_sums_block_f64_avx2, seg_grad_block_f64_avx2};
static const seg_kernels seg_f32_avx512 = {seg_sums_block_f32_avx512, seg_grad_block_f32_avx512};
static const seg_kernels seg_f64_avx512 = {seg_sums_block_f64_avx512, seg_grad_block_f64_avx512};
#endif

/* a_k, b_k of dL/dpm from the sums of class k; w = dL/dL_k. torch's autograd
   order: clamp_min passes the gradient where den >= eps; L_k's mask multiplies. */
static void seg_coef(double Sp, double St, double D, double w, double alpha, double beta, double smooth,
                     double eps, double *a_out, double *b_out) {
    const double I = (Sp + St - D) / 2, fp = Sp - I, fn = St - I;
    const double num = I + smooth, den_raw = I + alpha * fp + beta * fn + smooth;
    const double den = den_raw < eps ? eps : den_raw;
    const double score = num / den;
    const double g_score = -(w * (St > 0 ? 1.0 : 0.0));
    const double g_num = g_score / den;
    const double g_den = den_raw >= eps ? -g_score * (score / den) : 0.0;
    const double g_I = g_num + g_den - alpha * g_den - beta * g_den;
    *a_out = alpha * g_den + g_I / 2;
    *b_out = -g_I / 2;
}

static double seg_class_loss(double Sp, double St, double D, double alpha, double beta, double smooth,
                             double eps) {
    const double I = (Sp + St - D) / 2, fp = Sp - I, fn = St - I;
    const double den_raw = I + alpha * fp + beta * fn + smooth;
    const double den = den_raw < eps ? eps : den_raw;   /* NaN stays NaN, as torch's clamp_min */
    return (1.0 - (I + smooth) / den) * (St > 0 ? 1.0 : 0.0);
}

lossk_status lossk_segmentation(const char *loss, lossk_segmentation_args *args) {
    if (!loss || !args || args->size < sizeof(lossk_segmentation_args)) return LOSSK_ERR_INVALID_ARGUMENT;
    lossk_segmentation_args *A = args;
    double alpha, beta, gamma;
    if (strcmp(loss, "dice_loss") == 0) {
        alpha = beta = 0.5;
        gamma = 1.0;
    } else if (strcmp(loss, "tversky_loss") == 0) {
        alpha = A->alpha; beta = A->beta; gamma = A->gamma;
    } else {
        return LOSSK_ERR_INVALID_ARGUMENT;
    }
    const int64_t n = A->n, c = A->c, inner = A->inner;
    if (n < 0 || c < 0 || inner < 0 || c > INT_MAX / 3 || (inner > 0 && n > INT64_MAX / inner) ||
        (c > 0 && n * inner > INT64_MAX / 8 / c) || (A->dtype != LOSSK_DTYPE_F32 && A->dtype != LOSSK_DTYPE_F64) ||
        (A->reduction != LOSSK_REDUCTION_MEAN && A->reduction != LOSSK_REDUCTION_NONE) ||
        (A->index_target && A->target_type != LOSSK_INDEX_INT32 && A->target_type != LOSSK_INDEX_INT64) ||
        !(A->smooth >= 0.0) || !(A->eps >= 0.0) || !(alpha >= 0.0) || !(beta >= 0.0) || !(gamma > 0.0) ||
        A->smooth == INFINITY || A->eps == INFINITY || alpha == INFINITY || beta == INFINITY ||
        gamma == INFINITY)
        return LOSSK_ERR_INVALID_ARGUMENT;
    const int64_t pixels = n * inner, elems = pixels * c;
    const int64_t K = A->per_image ? n * c : c;
    if ((elems > 0 && !A->pred) || ((A->index_target ? pixels : elems) > 0 && !A->target) ||
        (A->reduction == LOSSK_REDUCTION_MEAN && !A->loss_out) ||
        (A->reduction == LOSSK_REDUCTION_NONE && K > 0 && !A->loss_none))
        return LOSSK_ERR_INVALID_ARGUMENT;
    if (lossk__aliases(A->grad, A->target)) return LOSSK_ERR_ALIASING;
    A->bad_index = -1;

    int64_t tile = SEG_TILE_ELEMS / (c > 0 ? c : 1) / 16 * 16;
    tile = tile < SEG_TILE_MIN ? SEG_TILE_MIN : tile > SEG_TILE_MAX ? SEG_TILE_MAX : tile;
    const int64_t tpi = inner > 0 ? (inner - 1) / tile + 1 : 0, tiles = n * tpi;
    const int64_t tile_elems = tile * (c > 0 ? c : 1);
    /* blocks big enough that their 3c partial sums stay small next to their elements */
    const int64_t block_elems = SEG_BLOCK_ELEMS > 96 * c ? SEG_BLOCK_ELEMS : 96 * c;
    const int64_t block = lossk__block_items(tile_elems, block_elems);
    const int threads = lossk__threads_for(A->n_threads, elems > pixels ? elems : pixels, (tiles - 1) / block + 1);
    const seg_kernels *kern = A->dtype == LOSSK_DTYPE_F32 ? LOSSK_SELECT(seg_f32) : LOSSK_SELECT(seg_f64);
    const int act = !A->from_logits ? SEG_NONE : A->index_target ? SEG_SOFTMAX : SEG_SIGMOID;
    seg_ctx ctx = {A->pred, A->target, n, c, inner, tile, tpi, A->index_target != 0, A->target_type,
                   (seg_act)act, A->has_ignore != 0, A->ignore_index, NULL, NULL, A->per_image != 0, A->grad,
                   A->grad && elems > 0 && act == SEG_SOFTMAX};
    if (ctx.store_p) {
        /* every class index checked before pass 1 writes p into grad (maybe pred) */
        double unused = 0.0;
        const lossk_status st = lossk__class_targets(A->target, A->target_type, pixels, c, A->has_ignore != 0,
                                                     A->ignore_index, NULL, 0, A->n_threads, &unused,
                                                     &A->bad_index);
        if (st != LOSSK_OK) return st;
    }

    /* sums[0..K) = Sp, [K..2K) = St, [2K..3K) = D */
    double *sums = (double *)calloc((size_t)(3 * (K > 0 ? K : 1)), sizeof(double));
    double *coef = NULL;
    if (!sums) return LOSSK_ERR_NO_MEMORY;
    lossk_status s = LOSSK_OK;
    int64_t bad = -1;
    const size_t scratch = seg_scratch_bytes(c, tile);
    if (A->per_image) {
        /* each tile's sums, then each image's tiles added in order */
        ctx.tile_sums = (double *)malloc((size_t)(tiles > 0 ? tiles : 1) * 3 * (size_t)(c > 0 ? c : 1) * sizeof(double));
        if (!ctx.tile_sums) { free(sums); return LOSSK_ERR_NO_MEMORY; }
        double unused = 0.0;
        s = lossk__run_blocks(tiles, block, threads, 0, scratch, kern->sums, &ctx, &unused, &bad);
        if (s == LOSSK_OK && bad < 0) {
            for (int64_t i = 0; i < n; i++)
                for (int64_t t = i * tpi; t < (i + 1) * tpi; t++)
                    for (int64_t k = 0; k < c; k++)
                        for (int q = 0; q < 3; q++) sums[q * K + i * c + k] += ctx.tile_sums[(t * 3 + q) * c + k];
        }
        free(ctx.tile_sums);
        ctx.tile_sums = NULL;
    } else {
        double *acc = (double *)malloc((size_t)(3 * (c > 0 ? c : 1)) * sizeof(double));
        if (!acc) { free(sums); return LOSSK_ERR_NO_MEMORY; }
        s = lossk__run_blocks(tiles, block, threads, (int)(3 * c), scratch, kern->sums, &ctx, acc, &bad);
        if (s == LOSSK_OK) memcpy(sums, acc, (size_t)(3 * c) * sizeof(double));
        free(acc);
    }
    if (s == LOSSK_OK && bad >= 0) {
        A->bad_index = bad;
        s = LOSSK_ERR_TARGET_RANGE;
    }
    if (s != LOSSK_OK) { free(sums); return s; }

    const double *Sp = sums, *St = sums + K, *D = sums + 2 * K;
    double total = 0.0;
    for (int64_t k = 0; k < K; k++) {
        const double l = seg_class_loss(Sp[k], St[k], D[k], alpha, beta, A->smooth, A->eps);
        total += l;
        if (A->reduction == LOSSK_REDUCTION_NONE) {
            if (A->dtype == LOSSK_DTYPE_F32) ((float *)A->loss_none)[k] = (float)l;
            else ((double *)A->loss_none)[k] = l;
        }
    }
    const double mean = total / (double)K;                 /* 0/0 = NaN: the mean of nothing */
    if (A->reduction == LOSSK_REDUCTION_MEAN) *A->loss_out = gamma == 1.0 ? mean : pow(mean, gamma);

    if (A->grad && elems > 0) {
        coef = (double *)malloc((size_t)(2 * K) * sizeof(double));
        if (!coef) { free(sums); return LOSSK_ERR_NO_MEMORY; }
        /* dLoss/dL_k: the mean's 1/K and gamma M^(gamma - 1) (torch's pow backward), or upstream.
           At M = 0 (the minimum) with gamma < 1 that is inf, and torch's gradient NaN
           (inf times the 0 of absent classes): lossk takes 0 there. */
        const double slope = gamma == 1.0 ? 1.0 : mean == 0.0 && gamma < 1.0 ? 0.0 : gamma * pow(mean, gamma - 1.0);
        const double w_mean = slope / (double)K;
        for (int64_t k = 0; k < K; k++) {
            const double w = A->reduction == LOSSK_REDUCTION_MEAN ? w_mean : A->upstream ? A->upstream[k] : 1.0;
            seg_coef(Sp[k], St[k], D[k], w, alpha, beta, A->smooth, A->eps, &coef[k], &coef[K + k]);
        }
        ctx.coef = coef;
        s = lossk__run_blocks(tiles, block, threads, 0, scratch, kern->grad, &ctx, &total, NULL);
        free(coef);
    }
    free(sums);
    return s;
}

#else /* LOSSK_TEMPLATE_PASS: one SIMD level, one dtype (real) */

#include "pass_helpers.h"

/* The tile's per-pixel rows in the scratch: e (c x tile), then r, mk, p, d, tv, y. */
typedef struct LOSSK_FN(seg_rows) {
    real *e, *r, *mk, *p, *d, *tv;
    int32_t *y;   /* c <= INT_MAX / 3; as wide as a float lane, so the one-hot compares vectorize */
    int64_t *count;   /* c: the tile's pixels of each class */
    real *acc_p, *acc_d, *pad, *G;   /* c x LOSSK_LANES each: the strip kernels' rows */
} LOSSK_FN(seg_rows);

LOSSK_INLINE LOSSK_FN(seg_rows) LOSSK_FN(seg_rows_of)(void *scratch, int64_t c, int64_t tile) {
    LOSSK_FN(seg_rows) w;
    real *base = (real *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    w.e = base;
    w.r = w.e + c * tile;
    w.mk = w.r + tile;
    w.p = w.mk + tile;
    w.d = w.p + tile;
    w.tv = w.d + tile;
    w.y = (int32_t *)(w.tv + tile);
    w.count = (int64_t *)(base + (c + 6) * tile);
    w.acc_p = (real *)(((uintptr_t)(w.count + c) + 63) & ~(uintptr_t)63);
    w.acc_d = w.acc_p + c * LOSSK_LANES;
    w.pad = w.acc_d + c * LOSSK_LANES;
    w.G = w.pad + c * LOSSK_LANES;
    return w;
}

/* Class indices of one tile into y (-1 where ignored) and the mask mk;
   returns the flat position of the first invalid index, or -1. */
static int64_t LOSSK_FN(seg_load_index)(const seg_ctx *a, int64_t pos, int64_t w, LOSSK_FN(seg_rows) *s) {
    for (int64_t j = 0; j < w; j++) {
        const int64_t y = lossk__load_index(a->target, a->target_type, pos + j);
        const int ign = a->has_ignore && y == a->ignore_index;
        if (!ign && (y < 0 || y >= a->c)) return pos + j;
        s->y[j] = ign ? -1 : (int32_t)y;
        s->mk[j] = ign ? (real)0 : (real)1;
    }
    return -1;
}

/* Softmax of the tile's pixels over the classes: e[k][j] = exp(x - max),
   r[j] = 1 / sum. NaN and +inf logits give NaN, as torch's log_softmax. */
static void LOSSK_FN(seg_softmax)(const real *x, int64_t inner, int64_t c, int64_t tile, int64_t w,
                                  LOSSK_FN(seg_rows) *s) {
    real *m = s->r, *sum = s->p;
    for (int64_t j = 0; j < w; j++) m[j] = x[j];
    for (int64_t k = 1; k < c; k++) {
        const real *xk = x + k * inner;
        for (int64_t j = 0; j < w; j++) m[j] = xk[j] > m[j] ? xk[j] : m[j];
    }
    for (int64_t j = 0; j < w; j++) sum[j] = 0;
    for (int64_t k = 0; k < c; k++) {
        const real *xk = x + k * inner;
        real *ek = s->e + k * tile;
        for (int64_t j = 0; j < w; j++) {
            const real v = LOSSK_EXP(xk[j] - m[j]);
            ek[j] = v;
            sum[j] += v;
        }
    }
    for (int64_t j = 0; j < w; j++) m[j] = (real)1 / sum[j];
}

#if LOSSK_VECTOR_EXT
/* Multiclass from logits, vectorised across pixels: a strip of LOSSK_LANES
   neighbouring pixels of one image, the classes in a loop (a class row is
   `inner` elements further). The strip is SEG_H vectors of the level's native
   width (64-byte vector types below AVX-512 spill to the stack); every step is
   lane-wise and the per-class accumulators have LOSSK_LANES lanes on every
   level, so the sums do not depend on the level's width. */
#undef SEG_VB
#if LOSSK_MULTIARCH && LOSSK_LEVEL == 2
#  define SEG_VB 64
#else
#  define SEG_VB 32
#endif
#if LOSSK_F64
typedef double LOSSK_FN(seg_v) __attribute__((vector_size(SEG_VB)));
typedef int64_t LOSSK_FN(seg_vi) __attribute__((vector_size(SEG_VB)));
typedef uint64_t LOSSK_FN(seg_vu) __attribute__((vector_size(SEG_VB)));
typedef int32_t LOSSK_FN(seg_vy) __attribute__((vector_size(SEG_VB / 2)));
#else
typedef float LOSSK_FN(seg_v) __attribute__((vector_size(SEG_VB)));
typedef int32_t LOSSK_FN(seg_vi) __attribute__((vector_size(SEG_VB)));
typedef uint32_t LOSSK_FN(seg_vu) __attribute__((vector_size(SEG_VB)));
typedef int32_t LOSSK_FN(seg_vy) __attribute__((vector_size(SEG_VB)));
#endif
#define SEG_V LOSSK_FN(seg_v)
#define SEG_VI LOSSK_FN(seg_vi)
#define SEG_VU LOSSK_FN(seg_vu)
#define SEG_W ((int64_t)(SEG_VB / sizeof(real)))
#define SEG_H ((int)(LOSSK_LANES / SEG_W))

LOSSK_INLINE SEG_V LOSSK_FN(seg_ld)(const real *p) {
    SEG_V v;
    memcpy(&v, p, sizeof v);
    return v;
}

LOSSK_INLINE void LOSSK_FN(seg_st)(real *p, SEG_V v) { memcpy(p, &v, sizeof v); }

LOSSK_INLINE SEG_V LOSSK_FN(seg_splat)(real v) {
    SEG_V r = {0};
    return r + v;
}

/* where m: a, else b (m all ones or zeros per lane) */
LOSSK_INLINE SEG_V LOSSK_FN(seg_select)(SEG_VU m, SEG_V a, SEG_V b) {
    return (SEG_V)(((SEG_VU)a & m) | ((SEG_VU)b & ~m));
}

/* b > a ? b : a (a NaN in b loses, as x86's max(b, a)) */
LOSSK_INLINE SEG_V LOSSK_FN(seg_max)(SEG_V a, SEG_V b) {
#if LOSSK_MULTIARCH && LOSSK_LEVEL == 1
    return LOSSK_F64 ? (SEG_V)_mm256_max_pd((__m256d)b, (__m256d)a) : (SEG_V)_mm256_max_ps((__m256)b, (__m256)a);
#else
    return LOSSK_FN(seg_select)((SEG_VU)(b > a), b, a);
#endif
}

/* SEG_W class indices (int32) as a mask-width integer vector */
LOSSK_INLINE SEG_VI LOSSK_FN(seg_ld_y)(const int32_t *y) {
    LOSSK_FN(seg_vy) v;
    memcpy(&v, y, sizeof v);
#if LOSSK_F64
    return __builtin_convertvector(v, SEG_VI);
#else
    return v;
#endif
}

/* exp(x) for x <= 0 or NaN, lane-wise: the vector form of simd_math.h's
   lossk_expf_nonpositive / lossk_exp_nonpositive (same reduction, same
   polynomial, same flush to 0 below the low bound), since a vector
   extension type cannot call the scalar function. */
LOSSK_INLINE SEG_V LOSSK_FN(seg_vexp)(SEG_V x) {
#if LOSSK_F64
    const double lo = -708.0, shifter = 6755399441055744.0;
    const SEG_VU under = (SEG_VU)(x < lo);
    const SEG_V xc = LOSSK_FN(seg_max)(x, LOSSK_FN(seg_splat)(lo));   /* a NaN x stays */
    const SEG_V z = xc * 1.4426950408889634074 + shifter, kf = z - shifter;
    SEG_V r = xc - kf * 6.93147180369123816490e-01;
    r = r - kf * 1.90821492927058770002e-10;
    SEG_V p = LOSSK_FN(seg_splat)(LOSSK_EXP_C0);
    LOSSK_EXP_POLY(p, r);
    const SEG_VU y = (SEG_VU)p + ((SEG_VU)z << 52);
#else
    const float lo = -86.6f, shifter = 12582912.0f;
    const SEG_VU under = (SEG_VU)(x < lo);
    const SEG_V xc = LOSSK_FN(seg_max)(x, LOSSK_FN(seg_splat)(lo));   /* a NaN x stays */
    const SEG_V z = xc * 1.44269504088896341f + shifter, kf = z - shifter;
    SEG_V r = xc - kf * 0.693359375f;
    r = r - kf * -2.12194440e-4f;
    SEG_V p = LOSSK_FN(seg_splat)(LOSSK_EXPF_C0);
    LOSSK_EXPF_POLY(p, r);
    const SEG_VU y = (SEG_VU)p + ((SEG_VU)z << 23);
#endif
    return (SEG_V)(y & ~under);
}

/* Pass 1 on one strip: p = softmax over the c rows of x (row stride xs) into
   the rows of g (stride gs; none when g is NULL; g may be x: the rows are
   read before any is written), per class the lanes of sum pm added to the
   accumulators acc_p, and each pixel's p of its own class into py (0 where
   ignored). D is not summed here: for p in [0, 1] (a softmax is, rounded
   too: the sum is at least each term, and 1/sum and the product round
   monotonically) |pm - t| is pm off the pixel's class and 1 - p on it, so
   D = Sp + St - 2 sum py (seg_tile_sums_strips). */
LOSSK_INLINE void LOSSK_FN(seg_strip_sums)(const real *x, int64_t xs, real *g, int64_t gs, int64_t c,
                                           const int32_t *y, const real *mk, real *py_out,
                                           LOSSK_FN(seg_rows) *s) {
    SEG_V m[SEG_H], sum[SEG_H], r[SEG_H], mkv[SEG_H], py[SEG_H];
    SEG_VI yv[SEG_H];
    for (int h = 0; h < SEG_H; h++) m[h] = LOSSK_FN(seg_ld)(x + h * SEG_W);
    for (int64_t k = 1; k < c; k++)
        for (int h = 0; h < SEG_H; h++) m[h] = LOSSK_FN(seg_max)(m[h], LOSSK_FN(seg_ld)(x + k * xs + h * SEG_W));
    for (int h = 0; h < SEG_H; h++) sum[h] = LOSSK_FN(seg_splat)(0);
    /* the exps go to the contiguous scratch rows, not to g: a load of x's next
       row right after a store to g's row, both 4 KiB multiples apart, stalls
       on the false store-to-load dependence (4K aliasing) */
    for (int64_t k = 0; k < c; k++)
        for (int h = 0; h < SEG_H; h++) {
            const SEG_V e = LOSSK_FN(seg_vexp)(LOSSK_FN(seg_ld)(x + k * xs + h * SEG_W) - m[h]);
            LOSSK_FN(seg_st)(s->G + k * LOSSK_LANES + h * SEG_W, e);
            sum[h] += e;
        }
    for (int h = 0; h < SEG_H; h++) {
        r[h] = LOSSK_FN(seg_splat)(1) / sum[h];
        mkv[h] = LOSSK_FN(seg_ld)(mk + h * SEG_W);
        yv[h] = LOSSK_FN(seg_ld_y)(y + h * SEG_W);
        py[h] = LOSSK_FN(seg_splat)(0);
    }
    for (int64_t k = 0; k < c; k++) {
        const SEG_VI kv = (SEG_VI){0} + (int32_t)k;
        for (int h = 0; h < SEG_H; h++) {
            const SEG_V p = LOSSK_FN(seg_ld)(s->G + k * LOSSK_LANES + h * SEG_W) * r[h], pm = p * mkv[h];
            if (g) LOSSK_FN(seg_st)(g + k * gs + h * SEG_W, p);
            real *ap = s->acc_p + k * LOSSK_LANES + h * SEG_W;
            LOSSK_FN(seg_st)(ap, LOSSK_FN(seg_ld)(ap) + pm);
            py[h] += (SEG_V)((SEG_VU)p & (SEG_VU)(yv[h] == kv));
        }
    }
    for (int h = 0; h < SEG_H; h++) LOSSK_FN(seg_st)(py_out + h * SEG_W, py[h]);
}

/* Pass 2 on one strip: p from g (pass 1), G_k = (a_k + b_k sign(pm_k - t_k)) m,
   Q = sum_k G_k p_k, and g_k = G_k p_k - p_k Q (softmax's backward). */
LOSSK_INLINE void LOSSK_FN(seg_strip_grad)(real *g, int64_t gs, int64_t c, const int32_t *y, const real *mk,
                                           const double *ca, const double *cb, LOSSK_FN(seg_rows) *s) {
    SEG_V Q[SEG_H], mkv[SEG_H];
    SEG_VI yv[SEG_H];
    for (int h = 0; h < SEG_H; h++) {
        Q[h] = LOSSK_FN(seg_splat)(0);
        mkv[h] = LOSSK_FN(seg_ld)(mk + h * SEG_W);
        yv[h] = LOSSK_FN(seg_ld_y)(y + h * SEG_W);
    }
    const SEG_V one = LOSSK_FN(seg_splat)(1), mone = LOSSK_FN(seg_splat)(-1);
    for (int64_t k = 0; k < c; k++) {
        const SEG_VI kv = (SEG_VI){0} + (int32_t)k;
        const real ak = (real)ca[k], bk = (real)cb[k];
        for (int h = 0; h < SEG_H; h++) {
            const SEG_V p = LOSSK_FN(seg_ld)(g + k * gs + h * SEG_W);
            const SEG_V t = (SEG_V)((SEG_VU)one & (SEG_VU)(yv[h] == kv));
            const SEG_V d = p * mkv[h] - t;
            /* torch's sign: 0 at 0 (and here at NaN, whose p makes the result NaN anyway) */
            const SEG_V sg = (SEG_V)(((SEG_VU)one & (SEG_VU)(d > 0)) | ((SEG_VU)mone & (SEG_VU)(d < 0)));
            const SEG_V G = (ak + bk * sg) * mkv[h];
            LOSSK_FN(seg_st)(s->G + k * LOSSK_LANES + h * SEG_W, G);
            LOSSK_FN(seg_st)(s->pad + k * LOSSK_LANES + h * SEG_W, p);   /* (no 4K aliasing, as pass 1) */
            Q[h] += G * p;
        }
    }
    for (int64_t k = 0; k < c; k++)
        for (int h = 0; h < SEG_H; h++) {
            real *gk = g + k * gs + h * SEG_W;
            const SEG_V p = LOSSK_FN(seg_ld)(s->pad + k * LOSSK_LANES + h * SEG_W);
            const SEG_V G = LOSSK_FN(seg_ld)(s->G + k * LOSSK_LANES + h * SEG_W);
            LOSSK_FN(seg_st)(gk, G * p - p * Q[h]);
        }
}

/* The tile's last w - j0 (< LOSSK_LANES) pixels as a strip: rows copied into
   pad (zeros after them), the class row -1 and the mask 0 there, so the
   padding adds nothing to any sum and gets a zero gradient. */
LOSSK_INLINE void LOSSK_FN(seg_pad_strip)(const real *src, int64_t stride, int64_t c, int64_t rem,
                                          LOSSK_FN(seg_rows) *s, int64_t j0) {
    for (int64_t k = 0; k < c; k++) {
        real *pk = s->pad + k * LOSSK_LANES;
        for (int64_t l = 0; l < LOSSK_LANES; l++) pk[l] = l < rem ? src[k * stride + l] : (real)0;
    }
    for (int64_t l = rem; l < LOSSK_LANES; l++) {
        s->y[j0 + l] = -1;
        s->mk[j0 + l] = 0;
    }
}

LOSSK_INLINE void LOSSK_FN(seg_unpad_strip)(real *dst, int64_t stride, int64_t c, int64_t rem,
                                            const LOSSK_FN(seg_rows) *s) {
    for (int64_t k = 0; k < c; k++)
        for (int64_t l = 0; l < rem; l++) dst[k * stride + l] = s->pad[k * LOSSK_LANES + l];
}

/* Pass 1 of a tile of w pixels (multiclass from logits): p into gp (or
   nowhere when there is no gradient), the tile's Sp, St (count: its pixels of
   each class) and D added to out. */
static void LOSSK_FN(seg_tile_sums_strips)(const real *x, real *gp, int64_t inner, int64_t c, int64_t w,
                                           LOSSK_FN(seg_rows) *s, double *out) {
    memset(s->acc_p, 0, (size_t)(c * LOSSK_LANES) * sizeof(real));
    int64_t j = 0;
    for (; j + LOSSK_LANES <= w; j += LOSSK_LANES)
        LOSSK_FN(seg_strip_sums)(x + j, inner, gp ? gp + j : NULL, inner, c, s->y + j, s->mk + j, s->d + j, s);
    if (j < w) {
        LOSSK_FN(seg_pad_strip)(x + j, inner, c, w - j, s, j);
        LOSSK_FN(seg_strip_sums)(s->pad, LOSSK_LANES, s->pad, LOSSK_LANES, c, s->y + j, s->mk + j, s->d + j, s);
        if (gp) LOSSK_FN(seg_unpad_strip)(gp + j, inner, c, w - j, s);
    }
    double *I = (double *)s->acc_d;   /* per class: sum of p over its pixels */
    for (int64_t k = 0; k < c; k++) I[k] = 0.0;
    for (int64_t q = 0; q < w; q++)
        if (s->y[q] >= 0) I[s->y[q]] += (double)s->d[q];
    for (int64_t k = 0; k < c; k++) {
        const double sp = LOSSK_FN(vsum)(LOSSK_FN(vload)(s->acc_p + k * LOSSK_LANES)), st = (double)s->count[k];
        out[k] += sp;
        out[c + k] += st;
        out[2 * c + k] += sp + st - 2.0 * I[k];
    }
}

/* Pass 2 of a tile (multiclass from logits): g holds p, receives dL/dx. */
static void LOSSK_FN(seg_tile_grad_strips)(real *g, int64_t inner, int64_t c, int64_t w, const double *ca,
                                           const double *cb, LOSSK_FN(seg_rows) *s) {
    int64_t j = 0;
    for (; j + LOSSK_LANES <= w; j += LOSSK_LANES)
        LOSSK_FN(seg_strip_grad)(g + j, inner, c, s->y + j, s->mk + j, ca, cb, s);
    if (j < w) {
        LOSSK_FN(seg_pad_strip)(g + j, inner, c, w - j, s, j);
        LOSSK_FN(seg_strip_grad)(s->pad, LOSSK_LANES, c, s->y + j, s->mk + j, ca, cb, s);
        LOSSK_FN(seg_unpad_strip)(g + j, inner, c, w - j, s);
    }
}
#undef SEG_V
#undef SEG_VI
#undef SEG_VU
#undef SEG_W
#undef SEG_H
#endif /* LOSSK_VECTOR_EXT */

/* sigmoid(v) and p (1 - p) = z / (1 + z)^2 from z = exp(-|v|), both without
   cancellation (torch takes exp(logsigmoid)). */
LOSSK_INLINE real LOSSK_FN(seg_sigmoid)(real v, real *dp) {
    const real z = LOSSK_EXP(-LOSSK_ABS(v)), r = (real)1 / ((real)1 + z);
    *dp = z * r * r;
    return v >= 0 ? r : z * r;
}

int64_t LOSSK_FN(seg_sums_block)(const void *ctx, int64_t begin, int64_t end, double *acc, void *scratch);
int64_t LOSSK_FN(seg_sums_block)(const void *ctx, int64_t begin, int64_t end, double *acc, void *scratch) {
    const seg_ctx *a = (const seg_ctx *)ctx;
    const int64_t c = a->c, inner = a->inner, tile = a->tile;
    const real ign = (real)a->ignore_index;
    LOSSK_FN(seg_rows) s = LOSSK_FN(seg_rows_of)(scratch, c, tile);
    if (!a->tile_sums)
        for (int64_t q = 0; q < 3 * c; q++) acc[q] = 0.0;
    for (int64_t t = begin; t < end; t++) {
        int64_t img, j0;
        const int64_t w = seg_tile(a, t, &img, &j0);
        double *out = a->tile_sums ? a->tile_sums + t * 3 * c : acc;
        if (a->tile_sums)
            for (int64_t q = 0; q < 3 * c; q++) out[q] = 0.0;
        const real *x = (const real *)a->x + img * c * inner + j0;
        if (a->index_target) {
            const int64_t bad = LOSSK_FN(seg_load_index)(a, img * inner + j0, w, &s);
            if (bad >= 0) return bad;
            if (c == 0) continue;
            /* St by a histogram of the tile's classes: one step per pixel, not per element */
            for (int64_t k = 0; k < c; k++) s.count[k] = 0;
            for (int64_t j = 0; j < w; j++)
                if (s.y[j] >= 0) s.count[s.y[j]]++;
            real *gp = a->store_p ? (real *)a->grad + img * c * inner + j0 : NULL;
#if LOSSK_VECTOR_EXT
            if (a->act == SEG_SOFTMAX) {
                LOSSK_FN(seg_tile_sums_strips)(x, gp, inner, c, w, &s, out);
                continue;
            }
#endif
            if (a->act == SEG_SOFTMAX) LOSSK_FN(seg_softmax)(x, inner, c, tile, w, &s);
            for (int64_t k = 0; k < c; k++) {
                const real *xk = x + k * inner, *ek = s.e + k * tile;
                if (gp) {                               /* the softmax kept for pass 2 */
                    real *gk = gp + k * inner;
                    for (int64_t j = 0; j < w; j++) gk[j] = ek[j] * s.r[j];
                }
                for (int64_t j = 0; j < w; j++) {
                    const real p = a->act == SEG_SOFTMAX ? ek[j] * s.r[j] : xk[j];
                    const real pm = p * s.mk[j], tk = s.y[j] == (int32_t)k ? (real)1 : (real)0;
                    s.p[j] = pm;
                    s.d[j] = LOSSK_ABS(pm - tk);
                }
                out[k] += LOSSK_FN(lane_sum)(s.p, w);
                out[c + k] += (double)s.count[k];
                out[2 * c + k] += LOSSK_FN(lane_sum)(s.d, w);
            }
        } else {
            const real *tgt = (const real *)a->target + img * c * inner + j0;
            for (int64_t k = 0; k < c; k++) {
                const real *xk = x + k * inner, *tk = tgt + k * inner;
                for (int64_t j = 0; j < w; j++) {
                    real dp;
                    const real p = a->act == SEG_SIGMOID ? LOSSK_FN(seg_sigmoid)(xk[j], &dp) : xk[j];
                    const real mk = a->has_ignore && tk[j] == ign ? (real)0 : (real)1;
                    const real pm = p * mk, tm = tk[j] * mk;
                    s.p[j] = pm;
                    s.tv[j] = tm;
                    s.d[j] = LOSSK_ABS(pm - tm);
                }
                out[k] += LOSSK_FN(lane_sum)(s.p, w);
                out[c + k] += LOSSK_FN(lane_sum)(s.tv, w);
                out[2 * c + k] += LOSSK_FN(lane_sum)(s.d, w);
            }
        }
    }
    return -1;
}

/* sign(v) as torch's sgn: 0 at 0 */
LOSSK_INLINE real LOSSK_FN(seg_sign)(real v) { return (real)(v > 0) - (real)(v < 0); }

int64_t LOSSK_FN(seg_grad_block)(const void *ctx, int64_t begin, int64_t end, double *acc, void *scratch);
int64_t LOSSK_FN(seg_grad_block)(const void *ctx, int64_t begin, int64_t end, double *acc, void *scratch) {
    const seg_ctx *a = (const seg_ctx *)ctx;
    const int64_t c = a->c, inner = a->inner, tile = a->tile;
    const int64_t K = a->per_image ? a->n * c : c;
    const real ign = (real)a->ignore_index;
    LOSSK_FN(seg_rows) s = LOSSK_FN(seg_rows_of)(scratch, c, tile);
    (void)acc;
    for (int64_t t = begin; t < end; t++) {
        int64_t img, j0;
        const int64_t w = seg_tile(a, t, &img, &j0);
        const double *ca = a->coef + (a->per_image ? img * c : 0), *cb = ca + K;
        const real *x = (const real *)a->x + img * c * inner + j0;
        real *g = (real *)a->grad + img * c * inner + j0;
        if (a->index_target) {
            (void)LOSSK_FN(seg_load_index)(a, img * inner + j0, w, &s);   /* checked in pass 1 */
#if LOSSK_VECTOR_EXT
            if (a->act == SEG_SOFTMAX) {
                LOSSK_FN(seg_tile_grad_strips)(g, inner, c, w, ca, cb, &s);
                continue;
            }
#endif
            if (a->act == SEG_SOFTMAX) {
                /* q_k = G_k p_k, Q = sum_k q_k; dL/dx_k = q_k - p_k Q (torch's
                   exp and log_softmax backward). p is in g (pass 1), G into e, Q into p. */
                real *Q = s.p;
                for (int64_t j = 0; j < w; j++) Q[j] = 0;
                for (int64_t k = 0; k < c; k++) {
                    const real ak = (real)ca[k], bk = (real)cb[k];
                    const real *gk = g + k * inner;
                    real *ek = s.e + k * tile;
                    for (int64_t j = 0; j < w; j++) {
                        const real p = gk[j], tk = s.y[j] == (int32_t)k ? (real)1 : (real)0;
                        const real G = (ak + bk * LOSSK_FN(seg_sign)(p * s.mk[j] - tk)) * s.mk[j];
                        ek[j] = G;
                        Q[j] += G * p;
                    }
                }
                for (int64_t k = 0; k < c; k++) {
                    const real *ek = s.e + k * tile;
                    real *gk = g + k * inner;
                    LOSSK_IVDEP
                    for (int64_t j = 0; j < w; j++) {
                        const real p = gk[j];
                        gk[j] = ek[j] * p - p * Q[j];
                    }
                }
            } else {
                for (int64_t k = 0; k < c; k++) {
                    const real ak = (real)ca[k], bk = (real)cb[k];
                    const real *xk = x + k * inner;
                    real *gk = g + k * inner;
                    LOSSK_IVDEP
                    for (int64_t j = 0; j < w; j++) {
                        const real tk = s.y[j] == (int32_t)k ? (real)1 : (real)0;
                        gk[j] = (ak + bk * LOSSK_FN(seg_sign)(xk[j] * s.mk[j] - tk)) * s.mk[j];
                    }
                }
            }
        } else {
            const real *tgt = (const real *)a->target + img * c * inner + j0;
            for (int64_t k = 0; k < c; k++) {
                const real ak = (real)ca[k], bk = (real)cb[k];
                const real *xk = x + k * inner, *tk = tgt + k * inner;
                real *gk = g + k * inner;
                LOSSK_IVDEP
                for (int64_t j = 0; j < w; j++) {
                    real dp = 1;
                    const real p = a->act == SEG_SIGMOID ? LOSSK_FN(seg_sigmoid)(xk[j], &dp) : xk[j];
                    const real mk = a->has_ignore && tk[j] == ign ? (real)0 : (real)1;
                    const real G = (ak + bk * LOSSK_FN(seg_sign)(p * mk - tk[j] * mk)) * mk;
                    gk[j] = a->act == SEG_SIGMOID ? G * dp : G;
                }
            }
        }
    }
    return -1;
}

#endif /* LOSSK_TEMPLATE_PASS */
