/*
 * Row point functions of the softmax family: a sample's loss and gradient
 * coefficients from its reduced statistics, each formula written once for the
 * layout paths of softmax.c (rows: ce_row_finish, columns: ce_columns,
 * registers: ce_rows16_c, AVX2 strips: ce_strip16). Macros where the types vary: the same text serves
 * double, float and GCC's vector types (__m512, __m512d).
 *
 * Cross-entropy, m the max logit (of a chunk), s = sum_k exp(x_k - m),
 * keep = 1 - eps, spread = eps / C, W = sum_k w_k:
 *   nll    = lse - x_y = (m - x_y) + log s                          CE_NLL
 *   smooth = sum_k v_k (lse - x_k) = (sum v_k)(lse - m) - sum v_k (x_k - m)
 *            (v = w for label smoothing, v = w t' for probability targets)  CE_SMOOTH
 *   loss   = keep w_y nll + spread smooth;  probability targets: smooth   CE_SAMPLE_LOSS
 *   dloss/dx_k = p_k coef - keep w_y [k=y] - spread w_k,
 *   coef = keep w_y + spread W;  probability targets: sum v_k, - v_k      CE_P_COEF
 * Softmax focal (eps = 0, alpha as w): the loss times q^g and the gradient's
 * w_y terms (target term and keep w_y in coef) times the focal gradient factor
 * (ce_focal below).
 *
 * The paths compile with -ffp-contract=fast: a product becomes a fused
 * multiply-add where it feeds one addition only, so how a formula is split
 * into statements decides which products fuse, and each path keeps its split
 * (CE_SAMPLE_LOSS is statements; the register path subtracts with its mask).
 */
#ifndef LOSSK_TEMPLATE_PASS

/* lse - x_y as (m - x_y) + log s: for logits like 1e30, m + log s rounds to m
   and lse - x_y would lose log s entirely. */
#define CE_NLL(m, x_y, log_s) (((m) - (x_y)) + (log_s))

/* sum_k v_k (lse - x_k) from a chunk's sums vs = sum v_k, vx = sum v_k (x_k - m)
   and lse - m: no large lse V - sum v x cancellation for logits like 1e4.
   CE_SMOOTH_BY subtracts with SUB. */
#define CE_SMOOTH_BY(SUB, vs, lse_m, vx) SUB((vs) * (lse_m), (vx))
#define CE_MINUS(a, b) ((a) - (b))
#define CE_SMOOTH(vs, lse_m, vx) CE_SMOOTH_BY(CE_MINUS, vs, lse_m, vx)

/* The sample's loss: keep w_y nll, plus spread smooth with label smoothing
   (focal then multiplies it by q^g). */
#define CE_SAMPLE_LOSS(loss, keep_w_y, nll, smoothing, spread, smooth) \
    do {                                                                \
        (loss) = (keep_w_y) * (nll);                                    \
        if (smoothing) (loss) = (loss) + (spread) * (smooth);           \
    } while (0)

/* The coefficient of p_k: keep w_y + spread W. Without smoothing the rows
   take keep w_y alone: no 0 * W, which an infinite weight of another class
   would turn into NaN. */
#define CE_P_COEF(keep_w_y, spread_w) ((keep_w_y) + (spread_w))

/* Softmax focal factors of a sample whose cross-entropy is ce = -log p_y
   (ce >= 0 or NaN where a target counts; ignored positions' factors are
   discarded), q = 1 - p_y:
     loss factor q^g,  gradient factor q^g (1 + g p_y r),  r = ce / q,
   as dloss/dx_k = w_y (q^g + g p_y q^(g-1) ce) (p_k - [k=y]). r -> 1 as
   ce -> 0 (r = 1 at ce = 0) and p_y r = 0 at p_y = 0: no 0 * inf for any
   g >= 0, p_y -> 1 included. Returns the gradient factor, the loss factor in
   *loss_factor; square: g = 2 (q q). V names the arithmetic (V_Q gives q and
   p_y, V_POW q^g, V_GUARD(c, x) is x where c, else 0):
     CE_D  double: q = -expm1(-ce) (no cancellation as p_y -> 1), libm pow
           (as double's column path keeps libm log); no guards (g is finite)
     CE_F, CE_V  float, 16 floats: CE_FOCAL_Q_SERIES, CE_FOCAL_POW_LOG; the
           guards give 0 where q^g = 0 or p_y r = 0 also for a g that float
           rounds to inf (not 0 * inf). */
#define CE_FOCAL_DEFINE(INLINE, NAME, T, G, V)                                            \
    INLINE T NAME(T ce, G gamma, int square, T *loss_factor) {                            \
        const T g = V##_SET(gamma);                                                       \
        T q, p, qg;                                                                       \
        V##_Q(T, ce, q, p);                                                               \
        if (square) qg = q * q;                                                           \
        else V##_POW(T, ce, q, p, g, qg);                                                 \
        const T pr = V##_SEL(V##_GT(p, V##_SET(0)),                                       \
                             V##_SEL(V##_GT(ce, V##_SET(0)), p * ce / q, V##_SET(1)), V##_SET(0)); \
        *loss_factor = qg;                                                                \
        return V##_GUARD(V##_GT(qg, V##_SET(0)),                                          \
                         qg * (V##_SET(1) + V##_GUARD(V##_GT(pr, V##_SET(0)), g * pr)));  \
    }

/* float q = 1 - exp(-ce): ce (1 - ce/2 (1 - ce/3 (... (1 - ce/9)))) below
   ce = 0.5 (truncation < 2e-8 relative), else 1 - exp(-ce). */
#define CE_FOCAL_Q_SERIES(V, T, ce, q, p)                                                 \
    do {                                                                                  \
        (p) = V##_EXP(V##_NEG(ce));                                                       \
        T t_ = V##_SET(1.0f) - (ce) * V##_SET(1.0f / 9.0f);                               \
        for (int k_ = 8; k_ >= 2; k_--) t_ = V##_SET(1.0f) - (ce) * V##_SET(1.0f / (float)k_) * t_; \
        (q) = V##_SEL(V##_LT(ce, V##_SET(0.5f)), (ce) * t_, V##_SET(1.0f) - (p));         \
    } while (0)

/* float q^g = exp(g log q). Where 1 - p rounds (to 1 for p < 6e-8, where a
   large g still makes q^g tiny) log q takes log1p(-p)'s correction
   - ((q - 1) + p) / q. log q = 0 or q = 0: 1 or 0, also where g log q would
   be NaN. */
#define CE_FOCAL_POW_LOG(V, T, ce, q, p, g, qg)                                           \
    do {                                                                                  \
        T lq_ = V##_LOG(q);                                                               \
        lq_ = V##_SEL(V##_NLT(ce, V##_SET(0.5f)), lq_ - (((q) - V##_SET(1.0f)) + (p)) / (q), lq_); \
        (qg) = V##_SEL(V##_EQ(q, V##_SET(0.0f)), V##_SET(0.0f),                           \
                       V##_SEL(V##_EQ(lq_, V##_SET(0.0f)), V##_SET(1.0f), V##_EXP((g) * lq_))); \
    } while (0)

/* scalar selects and comparisons (CE_D, CE_F) */
#define CE_S_SET(x) (x)
#define CE_S_SEL(c, a, b) ((c) ? (a) : (b))
#define CE_S_GT(a, b) ((a) > (b))

#define CE_D_SET CE_S_SET
#define CE_D_SEL CE_S_SEL
#define CE_D_GT CE_S_GT
#define CE_D_GUARD(c, x) (x)
#define CE_D_Q(T, ce, q, p)                                    \
    do {                                                       \
        const T em_ = expm1(-(ce));                            \
        (q) = -em_;                                            \
        (p) = 1.0 + em_; /* absolute error ~1e-16: harmless in 1 + g p r */ \
    } while (0)
#define CE_D_POW(T, ce, q, p, g, qg) ((qg) = pow((q), (g)))

#define CE_F_SET CE_S_SET
#define CE_F_SEL CE_S_SEL
#define CE_F_GT CE_S_GT
#define CE_F_LT(a, b) ((a) < (b))
#define CE_F_NLT(a, b) (!((a) < (b)))
#define CE_F_EQ(a, b) ((a) == (b))
#define CE_F_GUARD(c, x) ((c) ? (x) : 0.0f)
#define CE_F_NEG(x) (-(x))
#define CE_F_EXP lossk_expf
#define CE_F_LOG lossk_logf
#define CE_F_Q(T, ce, q, p) CE_FOCAL_Q_SERIES(CE_F, T, ce, q, p)
#define CE_F_POW(T, ce, q, p, g, qg) CE_FOCAL_POW_LOG(CE_F, T, ce, q, p, g, qg)

/* 16 floats: selects are mask moves; exp and log from the vector tables
   (q^g below 2e-38 flushes to 0 instead of a subnormal) */
#define CE_V_SET(x) _mm512_set1_ps(x)
#define CE_V_SEL(c, a, b) _mm512_mask_mov_ps((b), (c), (a))
#define CE_V_GT(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_GT_OQ)
#define CE_V_LT(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_LT_OQ)
#define CE_V_NLT(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_NLT_UQ)
#define CE_V_EQ(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_EQ_OQ)
#define CE_V_GUARD(c, x) _mm512_maskz_mov_ps((c), (x))
#define CE_V_NEG(x) _mm512_sub_ps(_mm512_setzero_ps(), (x))
#define CE_V_EXP ce_exp16
#define CE_V_LOG ce_log16
#define CE_V_Q(T, ce, q, p) CE_FOCAL_Q_SERIES(CE_V, T, ce, q, p)
#define CE_V_POW(T, ce, q, p, g, qg) CE_FOCAL_POW_LOG(CE_V, T, ce, q, p, g, qg)

/* 8 floats (AVX2): selects are blends on all-ones lanes; exp and log from
   pass_helpers.h (q^g below 2e-38 flushes to 0 instead of a subnormal) */
#define CE_Y_SET(x) _mm256_set1_ps(x)
#define CE_Y_SEL(c, a, b) _mm256_blendv_ps((b), (a), (c))
#define CE_Y_GT(a, b) _mm256_cmp_ps((a), (b), _CMP_GT_OQ)
#define CE_Y_LT(a, b) _mm256_cmp_ps((a), (b), _CMP_LT_OQ)
#define CE_Y_NLT(a, b) _mm256_cmp_ps((a), (b), _CMP_NLT_UQ)
#define CE_Y_EQ(a, b) _mm256_cmp_ps((a), (b), _CMP_EQ_OQ)
#define CE_Y_GUARD(c, x) _mm256_and_ps((c), (x))
#define CE_Y_NEG(x) _mm256_sub_ps(_mm256_setzero_ps(), (x))
#define CE_Y_EXP lossk__exp256_nonpos
#define CE_Y_LOG lossk__log256
#define CE_Y_Q(T, ce, q, p) CE_FOCAL_Q_SERIES(CE_Y, T, ce, q, p)
#define CE_Y_POW(T, ce, q, p, g, qg) CE_FOCAL_POW_LOG(CE_Y, T, ce, q, p, g, qg)

/* double, for the row path and double's column path */
CE_FOCAL_DEFINE(static inline, ce_focal, double, double, CE_D)

#else /* LOSSK_TEMPLATE_PASS: the per-pass instances */

#if !LOSSK_F64
/* float, for the column path's positions (scalar) */
CE_FOCAL_DEFINE(LOSSK_INLINE, LOSSK_FN(ce_focal_f), float, float, CE_F)
#endif

#if LOSSK_AVX512_F32
/* ce_exp16, ce_log16: the pair helpers on one vector; GCC merges the two
   identical halves (one vgetmantps per log in the object code) */
#define CE_ONE_OF_PAIR(NAME, PAIR_FN)        \
    LOSSK_INLINE __m512 NAME(__m512 x) {     \
        const __m512 xx[2] = {x, x};         \
        __m512 r[2];                         \
        PAIR_FN(xx, r);                      \
        return r[0];                         \
    }
CE_ONE_OF_PAIR(ce_exp16, lossk__exp512_nonpos_flush2)
CE_ONE_OF_PAIR(ce_log16, lossk__log512_2)

/* 16 positions (the column path's positions, the register path's rows) */
CE_FOCAL_DEFINE(LOSSK_INLINE, ce_focal512, __m512, float, CE_V)
#endif

#if LOSSK_AVX2_F32
/* 8 positions (the AVX2 strip kernel's) */
CE_FOCAL_DEFINE(LOSSK_INLINE, ce_focal256, __m256, float, CE_Y)
#endif

#endif /* LOSSK_TEMPLATE_PASS */
