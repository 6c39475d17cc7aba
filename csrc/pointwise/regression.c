/*
 * Regression losses, element by element (driver.h), reached through the
 * family entry lossk_pointwise by their Python names. e = x - t, x the
 * prediction, t the target (any broadcast operand of x).
 */
#ifndef LOSSK_TEMPLATE_PASS

#include <float.h>

#include "driver.h"

/* ew_args.param of the losses with an option, and rmse's gradient scale */
enum { REG_DELTA = 0, REG_INV_BETA = 1, REG_BETA = 0, REG_Q = 0, REG_SCALE = 0 };

#define LOSSK_TEMPLATE_FILE "pointwise/regression.c"
#include "multiarch.h"

/* The setup of a loss without options: its block function for the dtype. */
#define PLAIN_SETUP(name)                                                             \
    static lossk_block_fn name##_setup(const lossk_pointwise_args *in, ew_args *a) { \
        (void)a;                                                                      \
        return EW_BLOCK_OF(in, name);                                                 \
    }
PLAIN_SETUP(mse)
PLAIN_SETUP(l1)
PLAIN_SETUP(log_cosh)
PLAIN_SETUP(rmse)

static lossk_block_fn huber_setup(const lossk_pointwise_args *in, ew_args *a) {
    const double delta = in->param[0];
    if (!(delta > 0.0 && delta < HUGE_VAL)) return NULL;
    a->param[REG_DELTA] = delta;
    return EW_BLOCK_OF(in, huber);
}

static lossk_block_fn smooth_l1_setup(const lossk_pointwise_args *in, ew_args *a) {
    const double beta = in->param[0];
    if (!(beta >= 0.0 && beta < HUGE_VAL)) return NULL;
    /* beta = 0 is l1_loss (torch too); so is a beta whose reciprocal overflows in
       the dtype: its quadratic side holds only errors below the subnormal range */
    const double max = in->dtype == LOSSK_DTYPE_F32 ? FLT_MAX : DBL_MAX;
    if (!(1.0 / beta <= max)) return EW_BLOCK_OF(in, l1);
    a->param[REG_BETA] = beta;
    a->param[REG_INV_BETA] = 1.0 / beta;
    return EW_BLOCK_OF(in, smooth_l1);
}

static lossk_block_fn quantile_setup(const lossk_pointwise_args *in, ew_args *a) {
    const double q = in->param[0];
    if (!(q >= 0.0 && q <= 1.0)) return NULL;
    a->param[REG_Q] = q;
    return EW_BLOCK_OF(in, quantile);
}

/* rmse = sqrt(S / n), S = sum e^2, gradient e / (n rmse). The gradient needs
   S first: pass 1 sums without gradients, pass 2 recomputes e and writes
   2 e * REG_SCALE, REG_SCALE = 1 / (2 n rmse) (0 where rmse = 0: every e is
   0 then, and the gradient 0, not 0/0). */
static lossk_status rmse_run(ew_args *a, lossk_block_fn block, lossk_pointwise_args *in) {
    const size_t elem = in->dtype == LOSSK_DTYPE_F32 ? sizeof(float) : sizeof(double);
    void *grad = a->grad;
    double mean_sq = 0.0, sum_sq;
    if (in->reduction != LOSSK_REDUCTION_MEAN || !in->loss_out) return LOSSK_ERR_INVALID_ARGUMENT;
    a->grad = NULL;
    lossk_status s = lossk__run_pointwise(a, block, elem, LOSSK_REDUCTION_MEAN, -1, &mean_sq,
                                          in->n_threads, &in->bad_index);
    if (s != LOSSK_OK) return s;
    const double r = sqrt(mean_sq);  /* no elements: 0/0 = NaN, as torch's mean */
    if (grad && a->n > 0) {
        a->grad = grad;
        a->param[REG_SCALE] = r == 0.0 ? 0.0 : 0.5 / ((double)a->n * r);
        s = lossk__run_pointwise(a, block, elem, LOSSK_REDUCTION_SUM, -1, &sum_sq, in->n_threads,
                                 &in->bad_index);
        if (s != LOSSK_OK) return s;
    }
    *in->loss_out = r;
    return LOSSK_OK;
}

const ew_loss lossk__ew_losses_regression[] = {
    {"mse_loss", mse_setup, 0, NULL},
    {"l1_loss", l1_setup, 0, NULL},
    {"huber_loss", huber_setup, 0, NULL},
    {"smooth_l1_loss", smooth_l1_setup, 0, NULL},
    {"rmse_loss", rmse_setup, 0, rmse_run},
    {"log_cosh_loss", log_cosh_setup, 0, NULL},
    {"quantile_loss", quantile_setup, 0, NULL},
    {NULL, NULL, 0, NULL}
};

#else /* LOSSK_TEMPLATE_PASS: one SIMD level, one dtype (real) */

#include "pass_helpers.h"
#include "vec_math.h"

#if LOSSK_F64
#  define REG_COPYSIGN copysign
#else
#  define REG_COPYSIGN copysignf
#endif

/* sign(e) with sign(0) = 0 (torch's) and NaN for NaN */
LOSSK_INLINE real LOSSK_FN(sign0)(real e) {
    return e > 0 ? (real)1 : e < 0 ? (real)-1 : e == 0 ? (real)0 : e;
}

/* mse_loss: e^2, gradient 2 e */
LOSSK_INLINE void LOSSK_FN(mse_elem)(const real *prm, real x, real t, real aux, real *loss,
                                     real *grad) {
    (void)prm;
    (void)aux;
    const real e = x - t;
    *loss = e * e;
    *grad = 2 * e;
}

#define EW_NAME mse
#define EW_ELEM LOSSK_FN(mse_elem)
#define EW_WEIGHT 0
#define EW_AUX 0
#include "driver_loop.h"

/* l1_loss: |e|, gradient sign(e) (0 at e = 0, as torch) */
LOSSK_INLINE void LOSSK_FN(l1_elem)(const real *prm, real x, real t, real aux, real *loss,
                                    real *grad) {
    (void)prm;
    (void)aux;
    const real e = x - t;
    *loss = LOSSK_ABS(e);
    *grad = LOSSK_FN(sign0)(e);
}

#define EW_NAME l1
#define EW_ELEM LOSSK_FN(l1_elem)
#define EW_WEIGHT 0
#define EW_AUX 0
#include "driver_loop.h"

/* huber_loss: e^2 / 2 where |e| < delta, else delta (|e| - delta / 2);
   gradient e clamped to [-delta, delta] (torch's; equal on both sides at
   |e| = delta) */
LOSSK_INLINE void LOSSK_FN(huber_elem)(const real *prm, real x, real t, real aux, real *loss,
                                       real *grad) {
    (void)aux;
    /* c = min(|e|, delta) (NaN stays NaN): the loss c (|e| - c / 2) and the
       clamp copysign(c, e) take one select instead of four; the bits are the
       two-sided form's (|e| - |e| / 2 is exact) */
    const real d = prm[REG_DELTA], e = x - t, a = LOSSK_ABS(e), c = a > d ? d : a;
    *loss = c * (a - (real)0.5 * c);
    *grad = REG_COPYSIGN(c, e);
}

#define EW_NAME huber
#define EW_ELEM LOSSK_FN(huber_elem)
#define EW_WEIGHT 0
#define EW_AUX 0
#include "driver_loop.h"

/* smooth_l1_loss (beta > 0; beta = 0 runs l1): huber with delta = beta,
   divided by beta: e^2 / (2 beta) where |e| < beta, else |e| - beta / 2;
   gradient clamp(e, -beta, beta) / beta. In huber's form (selects and
   copysign, not |e| < beta with sign(e)) the loop vectorizes: ~30x faster. */
LOSSK_INLINE void LOSSK_FN(smooth_l1_elem)(const real *prm, real x, real t, real aux, real *loss,
                                           real *grad) {
    (void)aux;
    const real b = prm[REG_BETA], ib = prm[REG_INV_BETA], e = x - t, a = LOSSK_ABS(e);
    *loss = a < b ? (real)0.5 * e * e * ib : a - (real)0.5 * b;
    *grad = REG_COPYSIGN(a > b ? b : a, e) * ib;   /* the clamp in one select (huber's) */
}

#define EW_NAME smooth_l1
#define EW_ELEM LOSSK_FN(smooth_l1_elem)
#define EW_WEIGHT 0
#define EW_AUX 0
#include "driver_loop.h"

/* rmse_loss's elements: e^2, gradient 2 e * REG_SCALE (rmse_run) */
LOSSK_INLINE void LOSSK_FN(rmse_elem)(const real *prm, real x, real t, real aux, real *loss,
                                      real *grad) {
    (void)aux;
    const real e = x - t;
    *loss = e * e;
    *grad = 2 * e * prm[REG_SCALE];
}

#define EW_NAME rmse
#define EW_ELEM LOSSK_FN(rmse_elem)
#define EW_WEIGHT 0
#define EW_AUX 0
#include "driver_loop.h"

/* log_cosh_loss: log(cosh(e)) = |e| + log1p(u) - log 2, u = exp(-2 |e|) in
   [0, 1]: no overflow for any e (cosh would at |e| > 710); gradient
   tanh(e) = sign(e) (1 - u) / (1 + u). At e = +-inf: u = 0, loss inf,
   gradient +-1. */
LOSSK_INLINE void LOSSK_FN(log_cosh_elem)(const real *prm, real x, real t, real aux, real *loss,
                                          real *grad) {
    (void)prm;
    (void)aux;
    const real e = x - t, a = LOSSK_ABS(e);
    const real u = LOSSK_EXP_NONPOSITIVE(-2 * a), d = 1 + u, rd = 1 / d;
#if LOSSK_F64
    const real log1p_u = LOSSK_LOG_NORMAL(d) - ((d - 1) - u) * rd;  /* d in [1, 2] (binary.c's trick) */
#else
    const real log1p_u = lossk_log1pf_unit(u);
#endif
    *loss = a + (log1p_u - (real)0.69314718055994530942);
    /* tanh |e| carries e's sign (and NaN): 0 at e = 0 since u = 1 there */
    *grad = REG_COPYSIGN((1 - u) * rd, e);
}

#if PW_VEC8
/* log_cosh_elem on 8 lanes (the AVX2 pass) for |e| <= 43.5, where exp(-2|e|)
   stays in pw_exp8's range; the others (inf, NaN) go to log_cosh_elem. */
LOSSK_INLINE __m256 LOSSK_FN(log_cosh_vec8)(const float *prm, __m256 x, __m256 t, __m256 aux,
                                            __m256 gs, __m256 *loss, __m256 *grad, const int has_aux) {
    (void)prm;
    (void)aux;
    (void)has_aux;
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    const __m256 e = _mm256_sub_ps(x, t), a = _mm256_andnot_ps(sign, e);
    const __m256 u = LOSSK_FN(pw_exp8)(_mm256_mul_ps(a, _mm256_set1_ps(-2.0f)));
    const __m256 rd = _mm256_div_ps(gs, _mm256_add_ps(one, u));
    *loss = _mm256_add_ps(a, _mm256_sub_ps(LOSSK_FN(pw_log1p8_unit)(u), _mm256_set1_ps(0.69314718055994530942f)));
    /* tanh |e| = (1 - u) / (1 + u), with e's sign */
    *grad = _mm256_xor_ps(_mm256_mul_ps(_mm256_sub_ps(one, u), rd), _mm256_and_ps(sign, e));
    return LOSSK_FN(pw_abs_le8)(e, -0.5f * PW_EXP8_X_MIN);
}
#endif

#define EW_NAME log_cosh
#define EW_ELEM LOSSK_FN(log_cosh_elem)
#if PW_VEC8
#  define EW_VEC8 LOSSK_FN(log_cosh_vec8)
#endif
#define EW_WEIGHT 0
#define EW_AUX 0
#include "driver_loop.h"

/* quantile_loss (pinball), with r = t - x: q r where r >= 0, (q - 1) r where
   r < 0 (each 0 where its coefficient is, even for an infinite r); gradient
   w.r.t. x -q, 1 - q, and at r = 0 their mean 1/2 - q (torch autograd's at
   the tie of a max) */
LOSSK_INLINE void LOSSK_FN(quantile_elem)(const real *prm, real x, real t, real aux, real *loss,
                                          real *grad) {
    (void)aux;
    const real q = prm[REG_Q], r = t - x;
    *loss = r >= 0 ? LOSSK_FN(times)(q, r) : r < 0 ? LOSSK_FN(times)(q - 1, r) : r;
    *grad = r > 0 ? -q : r < 0 ? 1 - q : r == 0 ? (real)0.5 - q : r;
}

#define EW_NAME quantile
#define EW_ELEM LOSSK_FN(quantile_elem)
#define EW_WEIGHT 0
#define EW_AUX 0
#include "driver_loop.h"

#undef REG_COPYSIGN

#endif /* LOSSK_TEMPLATE_PASS */
