/*
 * Binary classification losses, element by element (driver.h): sigmoid
 * focal, binary cross-entropy on probabilities and on logits, hinge.
 *
 * The logistic terms, with e = exp(-|x|) and r = 1 / (1 + e):
 *   sigmoid(|x|) = r,  sigmoid(-|x|) = e r,  softplus(x) = max(x, 0) + log1p(e),
 *   log1p(e) = log(d) - ((d - 1) - e) r,  d = 1 + e rounded ((d - 1) - e is its
 *   exact rounding error, r = 1/d is needed anyway): nothing overflows and
 *   nothing cancels for any x, the sigmoid of the far side included.
 * Where a coefficient is 0 its term is 0 even if the other factor is inf
 * (x = +-inf), so the losses are 0 or inf there and the gradients finite.
 */
#ifndef LOSSK_TEMPLATE_PASS

#include "driver.h"

/* Parameters (ew_args.param) of the sigmoid focal loss and of the hinge loss. */
enum {
    FOCAL_ALPHA_NEG,      /* alpha_t = ALPHA_NEG + ALPHA_SLOPE t */
    FOCAL_ALPHA_SLOPE,
    FOCAL_GAMMA,
    FOCAL_POW_BIT0,       /* integer gamma: bits 0..3 of gamma - 1 */
    FOCAL_GAMMA_GE1 = FOCAL_POW_BIT0 + 4,
    FOCAL_ALPHA_ON,       /* alpha >= 0 (else alpha_t = 1) */
    /* the any-gamma kernel (no bits): the sign of m^gamma for m < 0 (targets
       outside [0, 1]): +-1 for even/odd integer gamma, NaN for other gamma */
    FOCAL_NEG_SIGN = FOCAL_POW_BIT0
};
enum { HINGE_MARGIN, HINGE_SQUARED };
/* The focal kernels: gamma = 2, other small integers, any gamma. */
enum { FOCAL_SQUARE, FOCAL_INT, FOCAL_REAL };
/* Integer gamma up to this: (1 - p_t)^gamma by multiplications (4 bits of
   gamma - 1), no exp or log. */
#define FOCAL_INT_GAMMA_MAX 16
/* Other gamma up to this: the AVX-512 float kernel, whose gd ce e / u
   (|gd| <= gamma, ce <= 88, e / u <= 2) stays finite, so that m^gamma = 0
   makes the gradient 0 and never 0 * inf as for gamma near float's max. */
#define FOCAL_VEC_GAMMA_MAX 1e30

#define LOSSK_TEMPLATE_FILE "pointwise/binary.c"
#include "multiarch.h"

/* Fills the focal parameters and returns the kernel for gamma: gamma = 2 (the
   default) and other integers up to FOCAL_INT_GAMMA_MAX by multiplications,
   any other gamma by exp and log. */
#define FOCAL_KERNEL(sfx)                                                                    \
    static lossk_block_fn focal_setup_##sfx(ew_args *a, double alpha, double gamma) {        \
        a->param[FOCAL_ALPHA_NEG] = alpha < 0.0 ? 1.0 : 1.0 - alpha;                          \
        a->param[FOCAL_ALPHA_SLOPE] = alpha < 0.0 ? 0.0 : 2.0 * alpha - 1.0;                  \
        a->param[FOCAL_ALPHA_ON] = alpha >= 0.0;                                              \
        a->param[FOCAL_GAMMA] = gamma;                                                        \
        if (gamma == 2.0) return LOSSK_SELECT(sigmoid_focal_square_block_##sfx);              \
        if (gamma != floor(gamma) || gamma > FOCAL_INT_GAMMA_MAX) {                           \
            a->param[FOCAL_NEG_SIGN] = gamma != floor(gamma) ? NAN                            \
                                       : fmod(gamma, 2.0) == 0.0 ? 1.0 : -1.0;                \
            return gamma <= FOCAL_VEC_GAMMA_MAX ? LOSSK_SELECT(sigmoid_focal_block_##sfx)     \
                                                : LOSSK_SELECT(sigmoid_focal_huge_block_##sfx); \
        }                                                                                     \
        const int bits = gamma >= 1.0 ? (int)gamma - 1 : 0;                                   \
        for (int b = 0; b < 4; b++) a->param[FOCAL_POW_BIT0 + b] = (double)((bits >> b) & 1); \
        a->param[FOCAL_GAMMA_GE1] = gamma >= 1.0;                                             \
        return LOSSK_SELECT(sigmoid_focal_int_block_##sfx);                                   \
    }
FOCAL_KERNEL(f32)
FOCAL_KERNEL(f64)

#define BINARY_ENTRIES(sfx, T)                                                                      \
    lossk_status lossk_sigmoid_focal_loss_##sfx(                                                    \
        const T *logits, const T *target, int64_t n, double alpha, double gamma,                    \
        lossk_reduction reduction, double *loss_out, T *loss_none, T *grad, int n_threads) {        \
        ew_args a;                                                                                  \
        if (!(gamma >= 0.0 && gamma < HUGE_VAL) || !(alpha <= 1.0)) return LOSSK_ERR_INVALID_ARGUMENT; \
        lossk__ew_init(&a, logits, target, n, loss_none, grad);                                     \
        return lossk__run_pointwise(&a, focal_setup_##sfx(&a, alpha, gamma), sizeof(T), reduction, \
                                      -1, loss_out, n_threads, NULL);                               \
    }                                                                                               \
    lossk_status lossk_binary_cross_entropy_##sfx(                                                  \
        const T *probs, const T *target, int64_t n, const T *weight, int64_t weight_inner,          \
        int64_t weight_period, lossk_reduction reduction, double *loss_out, T *loss_none, T *grad,  \
        int n_threads, int64_t *bad_index) {                                                        \
        ew_args a;                                                                                  \
        lossk__ew_init(&a, probs, target, n, loss_none, grad);                                      \
        a.has_domain = 1;                                                                           \
        a.weight.data = weight; a.weight.inner = weight_inner; a.weight.period = weight_period;     \
        return lossk__run_pointwise(&a, LOSSK_SELECT(bce_block_##sfx), sizeof(T), reduction, -1,  \
                                      loss_out, n_threads, bad_index);                              \
    }                                                                                               \
    lossk_status lossk_binary_cross_entropy_with_logits_##sfx(                                      \
        const T *logits, const T *target, int64_t n, const T *weight, int64_t weight_inner,         \
        int64_t weight_period, const T *pos_weight, int64_t pos_weight_inner,                       \
        int64_t pos_weight_period, lossk_reduction reduction, double *loss_out, T *loss_none,      \
        T *grad, int n_threads) {                                                                   \
        ew_args a;                                                                                  \
        lossk__ew_init(&a, logits, target, n, loss_none, grad);                                     \
        a.weight.data = weight; a.weight.inner = weight_inner; a.weight.period = weight_period;     \
        a.aux.data = pos_weight; a.aux.inner = pos_weight_inner; a.aux.period = pos_weight_period;  \
        return lossk__run_pointwise(&a, LOSSK_SELECT(bce_logits_block_##sfx), sizeof(T),         \
                                      reduction, -1, loss_out, n_threads, NULL);                    \
    }                                                                                               \
    lossk_status lossk_hinge_loss_##sfx(                                                            \
        const T *scores, const T *target, int64_t n, double margin, int squared,                    \
        lossk_reduction reduction, double *loss_out, T *loss_none, T *grad, int n_threads,          \
        int64_t *bad_index) {                                                                       \
        ew_args a;                                                                                  \
        if (!(margin > -HUGE_VAL && margin < HUGE_VAL)) return LOSSK_ERR_INVALID_ARGUMENT;          \
        lossk__ew_init(&a, scores, target, n, loss_none, grad);                                     \
        a.has_domain = 1;                                                                           \
        a.param[HINGE_MARGIN] = margin;                                                             \
        a.param[HINGE_SQUARED] = squared != 0;                                                      \
        return lossk__run_pointwise(&a, LOSSK_SELECT(hinge_block_##sfx), sizeof(T), reduction,    \
                                      -1, loss_out, n_threads, bad_index);                          \
    }
BINARY_ENTRIES(f32, float)
BINARY_ENTRIES(f64, double)

#else /* LOSSK_TEMPLATE_PASS: one SIMD level, one dtype (real) */

#include "pass_helpers.h"
#include "vec_math.h"

/* s = sigmoid(x), q = sigmoid(-x), and e, r, log1p(e) as at the top (float:
   log1p(e) by its polynomial on [0, 1]). */
LOSSK_INLINE void LOSSK_FN(logistic)(real x, real *e, real *r, real *s, real *q, real *log1p_e) {
    const real ex = LOSSK_EXP_NONPOSITIVE(-LOSSK_ABS(x));
    const real d = 1 + ex, rd = 1 / d, er = ex * rd;
    *e = ex;
    *r = rd;
    *s = x >= 0 ? rd : er;
    *q = x >= 0 ? er : rd;
#if LOSSK_F64
    *log1p_e = LOSSK_LOG_NORMAL(d) - ((d - 1) - ex) * rd;  /* d in [1, 2]; NaN x: rd is NaN */
#else
    *log1p_e = lossk_log1pf_unit(ex);
#endif
}

/* ce = (1 - t) softplus(x) + b softplus(-x), b = pos_weight * t: torch's
   (1 - t) x + (1 + (pw - 1) t) softplus(-x) regrouped as
   c |x| + lw log1p(e) with lw = 1 - t + b and c = 1 - t (x >= 0) or b (x < 0),
   which neither cancels nor forms 0 * inf (c = 0 gives 0 at |x| = inf);
   d ce / dx = (1 - t) sigmoid(x) - b sigmoid(-x), each product 0 where its
   sigmoid underflowed to 0 (its limit: an infinite t then gives -+inf, as
   torch's sigmoid(x) - t, not inf * 0 = NaN). */
LOSSK_INLINE void LOSSK_FN(bce_logits_elem)(const real *prm, real x, real t, real pos_weight,
                                            real *loss, real *grad) {
    real e, r, s, q, log1p_e;
    (void)prm;
    LOSSK_FN(logistic)(x, &e, &r, &s, &q, &log1p_e);
    const real a = 1 - t, b = pos_weight * t, ax = LOSSK_ABS(x);
    const real c = x >= 0 ? a : b;
    *loss = LOSSK_FN(times)(c, ax) + (a + b) * log1p_e;
    *grad = LOSSK_FN(times)(s, a) - LOSSK_FN(times)(q, b);
}

/*
 * Sigmoid focal: loss = alpha_t ce m^gamma, m = 1 - p_t = t q + (1 - t) s,
 *   d loss / dx = alpha_t (dce m^gamma + gamma (1 - 2t) ce m^(gamma-1) s q)
 * (dm/dx = (1 - 2t) s q). With tp = t on x's side (t for x >= 0, else 1 - t)
 * and v = 1 - tp: ce = v |x| + log1p(e), m = u r with u = v + tp e, and
 * s q = e r^2; v = 0 makes m = e r, the saturated case where m underflows.
 * gamma = 2 and other integer gamma: m^(gamma-1) by multiplications, finite;
 * the product is m^(gamma-1) (s q). Other gamma: m^gamma = exp(gamma log m),
 * log m = log(u) - log1p(e) (= -|x| - log1p(e) exactly when v = 0), and
 * m^(gamma-1) s q = m^gamma R, R = s q / m = e r / u (= r when v = 0): the
 * infinite m^(gamma-1) of gamma < 1 never forms. ce times that product is
 * taken as 0 where the product is 0 (ce may be inf at x = +-inf).
 */
LOSSK_INLINE void LOSSK_FN(focal_elem)(const real *prm, real x, real t, real *loss, real *grad,
                                       const int kind) {
    real e, r, s, q, log1p_e;
    LOSSK_FN(logistic)(x, &e, &r, &s, &q, &log1p_e);
    const real gamma = prm[FOCAL_GAMMA];
    /* torchvision's alpha t + (1 - alpha)(1 - t) is NaN for an infinite t:
       the linear form adds t - t (0, or NaN there) to say so. (gamma = 0
       needs it: no NaN from m then.) A select on a parameter vectorizes. */
    const real alpha_t = prm[FOCAL_ALPHA_NEG] + prm[FOCAL_ALPHA_SLOPE] * t +
                         (prm[FOCAL_ALPHA_ON] != 0 ? t - t : 0);
    const real ax = LOSSK_ABS(x);
    /* v = t itself, not 1 - (1 - t), which loses t's low bits (float: up to
       4e-4 of a loss with t = 1e-4) */
    const real tp = x >= 0 ? t : 1 - t, v = x >= 0 ? 1 - t : t;
    const real ce = LOSSK_FN(times)(v, ax) + log1p_e;
    const real dce = (1 - t) * s - t * q;
    const real u = v + tp * e;
    real mg, prod;  /* m^gamma; m^(gamma-1) s q */
    if (kind == FOCAL_SQUARE) {
        const real m = u * r;
        mg = m * m;
        prod = m * (e * r * r);
    } else if (kind == FOCAL_INT) {
        const real m = u * r, m2 = m * m, m4 = m2 * m2, m8 = m4 * m4;
        real pw = prm[FOCAL_POW_BIT0] != 0 ? m : 1;
        pw *= prm[FOCAL_POW_BIT0 + 1] != 0 ? m2 : 1;
        pw *= prm[FOCAL_POW_BIT0 + 2] != 0 ? m4 : 1;
        pw *= prm[FOCAL_POW_BIT0 + 3] != 0 ? m8 : 1;
        mg = prm[FOCAL_GAMMA_GE1] != 0 ? pw * m : 1;
        prod = pw * (e * r * r);
    } else {
        const real log_m = (v == 0 ? -ax : LOSSK_LOG(LOSSK_ABS(u))) - log1p_e;
        /* log_m == 0 (m rounded to 1): m^gamma = 1, also for a gamma beyond
           float's range (cast to inf) where gamma * 0 would be NaN; m == 0
           (x = +-inf): m^gamma = 0 (gamma > 0 here), also for a gamma that
           float rounds to 0 (1e-300) where 0 * -inf would be NaN */
        mg = log_m == 0 ? 1 : log_m == -(real)INFINITY ? 0 : LOSSK_EXP(gamma * log_m);
        mg = u < 0 ? mg * prm[FOCAL_NEG_SIGN] : mg;   /* targets outside [0, 1] */
        prod = mg * (v == 0 ? r : e * r / u);
    }
    const real ce_prod = LOSSK_FN(times)(prod, ce);
    /* ce_prod == 0: the term is 0, also for a gamma beyond float's range (cast
       to inf), as in softmax/softmax.c's ce_focal_f: its limit, not 0 * inf.
       times() written out: through it GCC vectorizes the AVX2 float loop of
       other gammas differently, and gradients where the two terms cancel
       moved by up to 780 ulp. */
    const real focal_term = ce_prod == 0 ? 0 : gamma * (1 - 2 * t) * ce_prod;
    *loss = alpha_t * ce * mg;
    *grad = alpha_t * (dce * mg + focal_term);
}

LOSSK_INLINE void LOSSK_FN(focal_square_elem)(const real *prm, real x, real t, real aux, real *loss,
                                              real *grad) {
    (void)aux;
    LOSSK_FN(focal_elem)(prm, x, t, loss, grad, FOCAL_SQUARE);
}

LOSSK_INLINE void LOSSK_FN(focal_int_elem)(const real *prm, real x, real t, real aux, real *loss,
                                           real *grad) {
    (void)aux;
    LOSSK_FN(focal_elem)(prm, x, t, loss, grad, FOCAL_INT);
}

LOSSK_INLINE void LOSSK_FN(focal_real_elem)(const real *prm, real x, real t, real aux, real *loss,
                                            real *grad) {
    (void)aux;
    LOSSK_FN(focal_elem)(prm, x, t, loss, grad, FOCAL_REAL);
}

/* torch's binary_cross_entropy: logs clamped at -100, its backward formula
   (whose 1e-12 is a float constant, for double too). */
LOSSK_INLINE void LOSSK_FN(bce_elem)(const real *prm, real p, real t, real aux, real *loss,
                                     real *grad) {
    (void)prm;
    (void)aux;
    real log_p = LOSSK_LOG(p), log_1mp = LOSSK_LOG1P(-p);
    log_p = log_p < -100 ? -100 : log_p;
    log_1mp = log_1mp < -100 ? -100 : log_1mp;
    *loss = (t - 1) * log_1mp - t * log_p;
    real den = (1 - p) * p;
    den = den < (real)1e-12f ? (real)1e-12f : den;
    *grad = (p - t) / den;
}

LOSSK_INLINE int LOSSK_FN(bce_check)(const real *prm, real p, real t) {
    (void)prm;
    return (p < 0) | (p > 1) | (t < 0) | (t > 1);
}

/* max(0, z), z = margin - y x; the gradient passes NaN on like the loss. */
LOSSK_INLINE void LOSSK_FN(hinge_elem)(const real *prm, real x, real t, real aux, real *loss,
                                       real *grad) {
    (void)aux;
    const real y = t > 0 ? 1 : -1;
    const real z = prm[HINGE_MARGIN] - y * x;
    const real h = z <= 0 ? 0 : z;
    const int squared = prm[HINGE_SQUARED] != 0;
    *loss = squared ? h * h : h;
    *grad = z > 0 ? -y * (squared ? 2 * h : 1) : z <= 0 ? 0 : z;
}

LOSSK_INLINE int LOSSK_FN(hinge_check)(const real *prm, real x, real t) {
    (void)prm;
    (void)x;
    return (t != 1) & (t != 0) & (t != -1);
}

#if LOSSK_AVX512_F32
/*
 * AVX-512 float versions of focal_elem (gamma = 2, other integer gamma) and
 * bce_logits_elem: the same formulas for finite x and t, two vectors at a
 * time (EW_VEC); the selects for infinite x are not needed there. They are
 * bound by the 512-bit FMA pipe (one per cycle on Zen 4): every multiply
 * saved counts.
 */
enum { FOCAL_VEC_ALPHA_SLOPE, FOCAL_VEC_ALPHA_NEG, FOCAL_VEC_GAMMA, FOCAL_VEC_POW, FOCAL_VEC_GE1 };

LOSSK_INLINE void focal_vec_setup(const float *prm, __m512 *K) {
    K[FOCAL_VEC_ALPHA_SLOPE] = _mm512_set1_ps(prm[FOCAL_ALPHA_SLOPE]);
    K[FOCAL_VEC_ALPHA_NEG] = _mm512_set1_ps(prm[FOCAL_ALPHA_NEG]);
    K[FOCAL_VEC_GAMMA] = _mm512_set1_ps(prm[FOCAL_GAMMA]);
}

/* focal_elem's terms for finite x and t, regrouped on r: with S = sign(x),
   u = v + tp e and w = v - tp e,
     m = u r,  dce = S w r,  gamma (1 - 2t) = S gd,  gd = gamma (v - tp),
   so that the gradient's dce m^gamma + gamma (1 - 2t) ce m^(gamma-1) s q
   (s q = e r^2) is, for integer gamma, m^(gamma-1) r^2 X with
   X = S (gd ce e + w u): two multiplies and two blends fewer than forming
   dce, s q and their products; for any gamma,
   m^gamma r S (w + gd ce e / u), as R = s q / m = e r / u. at is alpha_t.
   u and w share the product tp e and are two adds instead of two FMAs (on
   the add pipe, which is less busy; the same accuracy, as e carries an
   ulp already); gamma = 0, whose gradient is w alone, takes w from one FMA
   (v, tp). square: gamma = 2, gd = d + d (the same bits as 2 d, one multiply
   fewer). */
typedef struct {
    __m512 e[2], r[2], log1p_e[2], ce[2], m[2], u[2], w[2], gd[2], sgn[2], at[2], v[2], tp[2];
} focal_terms;

LOSSK_INLINE void focal_terms512x2(const __m512 *K, const __m512 x[2], const __m512 t[2], focal_terms *T,
                                   const int square) {
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 nax[2], omt[2], te[2], d[2];
    __mmask16 neg[2];
    lossk__logistic512x2(x, one, nax, neg, T->e, T->r, T->log1p_e);
    LOSSK_PAIR T->sgn[j] = _mm512_and_ps(x[j], _mm512_set1_ps(-0.0f));
    LOSSK_PAIR omt[j] = _mm512_sub_ps(one, t[j]);
    LOSSK_PAIR T->tp[j] = _mm512_mask_blend_ps(neg[j], t[j], omt[j]);
    LOSSK_PAIR T->v[j] = _mm512_mask_blend_ps(neg[j], omt[j], t[j]);
    LOSSK_PAIR te[j] = _mm512_mul_ps(T->tp[j], T->e[j]);
    LOSSK_PAIR T->u[j] = _mm512_add_ps(T->v[j], te[j]);
    LOSSK_PAIR T->w[j] = _mm512_sub_ps(T->v[j], te[j]);
    LOSSK_PAIR T->m[j] = _mm512_mul_ps(T->u[j], T->r[j]);
    LOSSK_PAIR T->ce[j] = _mm512_fnmadd_ps(T->v[j], nax[j], T->log1p_e[j]);           /* v |x| + log1p(e) */
    LOSSK_PAIR d[j] = _mm512_sub_ps(T->v[j], T->tp[j]);
    LOSSK_PAIR T->gd[j] = square ? _mm512_add_ps(d[j], d[j]) : _mm512_mul_ps(K[FOCAL_VEC_GAMMA], d[j]);
    LOSSK_PAIR T->at[j] = _mm512_fmadd_ps(K[FOCAL_VEC_ALPHA_SLOPE], t[j], K[FOCAL_VEC_ALPHA_NEG]);
}

/* X of the integer-gamma gradients */
LOSSK_INLINE void focal_x512x2(const focal_terms *T, __m512 X[2]) {
    LOSSK_PAIR X[j] = _mm512_xor_ps(
        _mm512_fmadd_ps(T->gd[j], _mm512_mul_ps(T->ce[j], T->e[j]), _mm512_mul_ps(T->w[j], T->u[j])), T->sgn[j]);
}

/* Integer gamma: focal_elem's powers, m^(gamma-1) from the bits of
   gamma - 1 and m^gamma = m^(gamma-1) m (gamma = 0: 1, and the gradient
   alpha_t dce); the multiplications by 1 that focal_elem does for the zero
   bits are skipped, which changes no bit. alpha_t m^(gamma-1) is shared by
   the loss and the gradient. bits, ge1 and square are constants for
   gamma = 2 (focal_square_vec) and read from K for the others. */
LOSSK_INLINE void focal_pow_vec(const __m512 *K, const __m512 x[2], const __m512 t[2], __m512 gs,
                                __m512 loss[2], __m512 grad[2], const int bits, const int ge1,
                                const int square) {
    const __m512 one = _mm512_set1_ps(1.0f);
    focal_terms T;
    __m512 X[2], mp[2], pw[2], apw[2];
    focal_terms512x2(K, x, t, &T, square);
    if (!ge1) {
        LOSSK_PAIR T.w[j] = _mm512_fnmadd_ps(T.tp[j], T.e[j], T.v[j]);
        LOSSK_PAIR loss[j] = _mm512_mul_ps(T.at[j], T.ce[j]);
        LOSSK_PAIR grad[j] = _mm512_mul_ps(_mm512_mul_ps(T.at[j], _mm512_xor_ps(_mm512_mul_ps(T.w[j], T.r[j]), T.sgn[j])), gs);
        return;
    }
    focal_x512x2(&T, X);
    LOSSK_PAIR pw[j] = bits & 1 ? T.m[j] : one;
    LOSSK_PAIR mp[j] = T.m[j];
    for (int b = 1; b < 4; b++) {                    /* mp = m^(2^b) */
        if (bits >> b == 0) break;
        LOSSK_PAIR mp[j] = _mm512_mul_ps(mp[j], mp[j]);
        if ((bits >> b) & 1) LOSSK_PAIR pw[j] = _mm512_mul_ps(pw[j], mp[j]);
    }
    LOSSK_PAIR apw[j] = _mm512_mul_ps(T.at[j], pw[j]);
    LOSSK_PAIR loss[j] = _mm512_mul_ps(apw[j], _mm512_mul_ps(T.ce[j], T.m[j]));
    LOSSK_PAIR grad[j] = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(apw[j], T.r[j]), _mm512_mul_ps(T.r[j], X[j])), gs);
}

LOSSK_INLINE void focal_square_vec(const __m512 *K, const __m512 x[2], const __m512 t[2],
                                   const __m512 aux[2], __m512 gs, __m512 loss[2], __m512 grad[2],
                                   const int has_aux) {
    (void)aux;
    (void)has_aux;
    focal_pow_vec(K, x, t, gs, loss, grad, 1, 1, 1);
}

LOSSK_INLINE void focal_int_vec_setup(const float *prm, __m512 *K) {
    focal_vec_setup(prm, K);
    int bits = 0;
    for (int b = 0; b < 4; b++) bits |= (prm[FOCAL_POW_BIT0 + b] != 0) << b;
    K[FOCAL_VEC_POW] = _mm512_set1_ps((float)bits);
    K[FOCAL_VEC_GE1] = _mm512_set1_ps(prm[FOCAL_GAMMA_GE1]);
}

LOSSK_INLINE void focal_int_vec(const __m512 *K, const __m512 x[2], const __m512 t[2], const __m512 aux[2],
                                __m512 gs, __m512 loss[2], __m512 grad[2], const int has_aux) {
    (void)aux;
    (void)has_aux;
    focal_pow_vec(K, x, t, gs, loss, grad, (int)_mm512_cvtss_f32(K[FOCAL_VEC_POW]),
                  _mm512_cvtss_f32(K[FOCAL_VEC_GE1]) != 0, 0);
}

/* Any other gamma (FOCAL_REAL, up to FOCAL_VEC_GAMMA_MAX), targets in [0, 1]
   (EW_VEC_T_UNIT), where u is in [e, 1]: m^gamma = exp(gamma log m) with
   focal_elem's log m = log(u) - log1p(e) (not log of m = u r, which rounds
   to 1 for p_t < 6e-8: an easy 0/1 target has u = 1 and log m = -log1p(e)
   to the last bit), 0 where gamma log m < LOSSK_EXP512_X_MIN (m^gamma <
   2e-38; focal_elem's exp would give a subnormal or 0 there). The gradient
   is alpha_t m^gamma r S (w + gd ce e / u): no infinite m^(gamma-1) forms
   for gamma < 1. */
LOSSK_INLINE void focal_real_vec(const __m512 *K, const __m512 x[2], const __m512 t[2], const __m512 aux[2],
                                 __m512 gs, __m512 loss[2], __m512 grad[2], const int has_aux) {
    focal_terms T;
    __m512 log_m[2], arg[2], mg[2], amg[2], y[2];
    (void)aux;
    (void)has_aux;
    focal_terms512x2(K, x, t, &T, 0);
    lossk__log512_2(T.u, log_m);
    LOSSK_PAIR arg[j] = _mm512_mul_ps(K[FOCAL_VEC_GAMMA], _mm512_sub_ps(log_m[j], T.log1p_e[j]));
    lossk__exp512_nonpos_flush2(arg, mg);
    LOSSK_PAIR amg[j] = _mm512_mul_ps(T.at[j], mg[j]);
    LOSSK_PAIR loss[j] = _mm512_mul_ps(amg[j], T.ce[j]);
    /* ce (e / u): ce e underflows where m^gamma is far larger (v = 0, |x| > 52) */
    LOSSK_PAIR y[j] = _mm512_fmadd_ps(T.gd[j], _mm512_mul_ps(T.ce[j], _mm512_div_ps(T.e[j], T.u[j])), T.w[j]);
    LOSSK_PAIR grad[j] = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(amg[j], T.r[j]), _mm512_xor_ps(y[j], T.sgn[j])), gs);
}

/* the BCE kernels take no constants */
LOSSK_INLINE void no_vec_setup(const float *prm, __m512 *K) {
    (void)prm;
    (void)K;
}

/* bce_logits_elem's formulas with the gradient regrouped on r = 1 / (1 + e):
   a s - b q = r (A e + B), (A, B) = (-b, a) for x >= 0, else (a, -b); that
   saves the product e r, and gscale rides in the division (r = gscale /
   (1 + e)), which saves its multiply. Without pos_weight a + b = 1 exactly. */
LOSSK_INLINE void bce_logits_vec(const __m512 *K, const __m512 x[2], const __m512 t[2],
                                 const __m512 pos_weight[2], __m512 gs, __m512 loss[2], __m512 grad[2],
                                 const int has_aux) {
    const __m512 one = _mm512_set1_ps(1.0f), sign = _mm512_set1_ps(-0.0f);
    __m512 nax[2], e[2], r[2], log1p_e[2], a[2], b[2], nb[2];
    __mmask16 neg[2];
    (void)K;
    lossk__logistic512x2(x, gs, nax, neg, e, r, log1p_e);
    LOSSK_PAIR a[j] = _mm512_sub_ps(one, t[j]);
    LOSSK_PAIR b[j] = has_aux ? _mm512_mul_ps(pos_weight[j], t[j]) : t[j];
    LOSSK_PAIR nb[j] = _mm512_xor_ps(b[j], sign);
    /* c |x| + (a + b) log1p(e), c = a (x >= 0) or b */
    LOSSK_PAIR loss[j] = _mm512_fnmadd_ps(_mm512_mask_blend_ps(neg[j], a[j], b[j]), nax[j],
                                          has_aux ? _mm512_mul_ps(_mm512_add_ps(a[j], b[j]), log1p_e[j]) : log1p_e[j]);
    LOSSK_PAIR grad[j] = _mm512_mul_ps(r[j], _mm512_fmadd_ps(_mm512_mask_blend_ps(neg[j], nb[j], a[j]), e[j],
                                                             _mm512_mask_blend_ps(neg[j], a[j], nb[j])));
}

/* bce_elem on p and t in [0, 1] with the table log, which keeps relative
   accuracy on both sides of 1 and for subnormal p. log1p(-p) = log(u) + d/u
   with u = 1 - p rounded and d = (1 - u) - p its exact rounding error (0 for
   p >= 1/2, where u is exact); 1/u ~ 1 + p + p^2 is plenty for a correction
   below half an ulp of u (it leaves less than 2e-8 of log u). The gradient
   is bce_elem's formula (the same bits where no weight scales it). */
LOSSK_INLINE void bce_vec(const __m512 *K, const __m512 p[2], const __m512 t[2], const __m512 aux[2],
                          __m512 gs, __m512 loss[2], __m512 grad[2], const int has_aux) {
    const __m512 one = _mm512_set1_ps(1.0f), lo = _mm512_set1_ps(-100.0f);
    __m512 u[2], log_p[2], log_u[2], d[2];
    (void)K;
    (void)aux;
    (void)has_aux;
    LOSSK_PAIR u[j] = _mm512_sub_ps(one, p[j]);
    lossk__log512_2(p, log_p);
    lossk__log512_2(u, log_u);
    LOSSK_PAIR d[j] = _mm512_sub_ps(_mm512_sub_ps(one, u[j]), p[j]);
    LOSSK_PAIR log_u[j] = _mm512_fmadd_ps(d[j], _mm512_add_ps(one, _mm512_fmadd_ps(p[j], p[j], p[j])), log_u[j]);
    /* the clamps at -100; log 0 comes out NaN, and max returns its second
       operand for a NaN first one: -100 as for -inf */
    LOSSK_PAIR log_p[j] = _mm512_max_ps(log_p[j], lo);
    LOSSK_PAIR log_u[j] = _mm512_max_ps(log_u[j], lo);
    LOSSK_PAIR loss[j] = _mm512_fmsub_ps(_mm512_sub_ps(t[j], one), log_u[j], _mm512_mul_ps(t[j], log_p[j]));
    LOSSK_PAIR grad[j] = _mm512_mul_ps(
        _mm512_div_ps(_mm512_sub_ps(p[j], t[j]), _mm512_max_ps(_mm512_mul_ps(u[j], p[j]), _mm512_set1_ps(1e-12f))), gs);
}
#endif

#define EW_NAME sigmoid_focal_square
#define EW_ELEM LOSSK_FN(focal_square_elem)
#define EW_WEIGHT 0
#define EW_AUX 0
#if LOSSK_AVX512_F32
#  define EW_VEC focal_square_vec
#  define EW_VEC_SETUP focal_vec_setup
#  define EW_VEC_X_MAX (-LOSSK_EXP512_X_MIN)   /* exp(-|x|) of the logistic terms */
#  define EW_VEC_T_LOUD 1
#endif
#include "driver_loop.h"

#define EW_NAME sigmoid_focal_int
#define EW_ELEM LOSSK_FN(focal_int_elem)
#define EW_WEIGHT 0
#define EW_AUX 0
#if LOSSK_AVX512_F32
#  define EW_VEC focal_int_vec
#  define EW_VEC_SETUP focal_int_vec_setup
#  define EW_VEC_X_MAX (-LOSSK_EXP512_X_MIN)
#  define EW_VEC_T_LOUD 1
#endif
#include "driver_loop.h"

#define EW_NAME sigmoid_focal
#define EW_ELEM LOSSK_FN(focal_real_elem)
#define EW_WEIGHT 0
#define EW_AUX 0
#if LOSSK_AVX512_F32
#  define EW_VEC focal_real_vec
#  define EW_VEC_SETUP focal_vec_setup
#  define EW_VEC_X_MAX (-LOSSK_EXP512_X_MIN)
#  define EW_VEC_T_UNIT 1
#endif
#include "driver_loop.h"

/* gamma beyond FOCAL_VEC_GAMMA_MAX: focal_elem's selects only */
#define EW_NAME sigmoid_focal_huge
#define EW_ELEM LOSSK_FN(focal_real_elem)
#define EW_WEIGHT 0
#define EW_AUX 0
#include "driver_loop.h"

#define EW_NAME bce
#define EW_ELEM LOSSK_FN(bce_elem)
#define EW_CHECK LOSSK_FN(bce_check)
#define EW_WEIGHT 1
#define EW_AUX 0
#if LOSSK_AVX512_F32
#  define EW_VEC bce_vec
#  define EW_VEC_SETUP no_vec_setup
#  define EW_VEC_X_MAX 1.0f
#  define EW_VEC_X_UNIT 1
#  define EW_VEC_T_UNIT 1
#endif
#include "driver_loop.h"

#if PW_VEC8
/* bce_logits_vec (the AVX-512 kernel's regrouping) on 8 lanes, for the AVX2
   pass: |x| <= 87 and finite t and pos_weight (the others go to
   bce_logits_elem). The sign bit of x picks the side (x = -0 gives x >= 0's
   terms: equal at e = 1). */
LOSSK_INLINE __m256 LOSSK_FN(bce_logits_vec8)(const float *prm, __m256 x, __m256 t, __m256 pos_weight,
                                              __m256 gs, __m256 *loss, __m256 *grad, const int has_aux) {
    (void)prm;
    const __m256 one = _mm256_set1_ps(1.0f), nax = _mm256_or_ps(x, _mm256_set1_ps(-0.0f));
    const __m256 e = LOSSK_FN(pw_exp8)(nax);
    const __m256 r = _mm256_div_ps(gs, _mm256_add_ps(one, e)), log1p_e = LOSSK_FN(pw_log1p8_unit)(e);
    const __m256 a = _mm256_sub_ps(one, t), b = has_aux ? _mm256_mul_ps(pos_weight, t) : t;
    const __m256 nb = _mm256_xor_ps(b, _mm256_set1_ps(-0.0f));
    /* c |x| + (a + b) log1p(e), c = a (x >= 0) or b; a + b = 1 without pos_weight */
    *loss = _mm256_fnmadd_ps(_mm256_blendv_ps(a, b, x), nax,
                             has_aux ? _mm256_mul_ps(_mm256_add_ps(a, b), log1p_e) : log1p_e);
    *grad = _mm256_mul_ps(r, _mm256_fmadd_ps(_mm256_blendv_ps(nb, a, x), e, _mm256_blendv_ps(a, nb, x)));
    __m256 ok = _mm256_and_ps(LOSSK_FN(pw_abs_le8)(x, -PW_EXP8_X_MIN), LOSSK_FN(pw_abs_le8)(t, FLT_MAX));
    if (has_aux) ok = _mm256_and_ps(ok, LOSSK_FN(pw_abs_le8)(pos_weight, FLT_MAX));
    return ok;
}
#endif

#define EW_NAME bce_logits
#define EW_ELEM LOSSK_FN(bce_logits_elem)
#if PW_VEC8
#  define EW_VEC8 LOSSK_FN(bce_logits_vec8)
#endif
#define EW_WEIGHT 1
#define EW_AUX 1
#if LOSSK_AVX512_F32
#  define EW_VEC bce_logits_vec
#  define EW_VEC_SETUP no_vec_setup
#  define EW_VEC_X_MAX (-LOSSK_EXP512_X_MIN)
#  define EW_VEC_T_LOUD 1
#endif
#include "driver_loop.h"

#define EW_NAME hinge
#define EW_ELEM LOSSK_FN(hinge_elem)
#define EW_CHECK LOSSK_FN(hinge_check)
#define EW_WEIGHT 0
#define EW_AUX 0
#include "driver_loop.h"

#endif /* LOSSK_TEMPLATE_PASS */
