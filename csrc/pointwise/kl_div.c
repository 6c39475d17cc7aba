/*
 * Kullback-Leibler divergence (= torch kl_div), element by element
 * (driver.h). x holds log-probabilities, t the target:
 *   probabilities: loss = t log t - t x (0 where t = 0, torch's xlogy), grad -t
 *   log_target:    loss = exp(t) (t - x),                                grad -exp(t)
 * "batchmean" is LOSSK_REDUCTION_BATCHMEAN with the batch size.
 */
#ifndef LOSSK_TEMPLATE_PASS

#include "driver.h"

#define LOSSK_TEMPLATE_FILE "pointwise/kl_div.c"
#include "multiarch.h"

#define KL_ENTRY(sfx, T)                                                                         \
    lossk_status lossk_kl_div_##sfx(                                                             \
        const T *log_input, const T *target, int64_t n, int64_t batch_size, int log_target,      \
        lossk_reduction reduction, double *loss_out, T *loss_none, T *grad, int n_threads) {     \
        ew_args a;                                                                               \
        if (batch_size < 0) return LOSSK_ERR_INVALID_ARGUMENT;                                   \
        lossk__ew_init(&a, log_input, target, n, loss_none, grad);                               \
        return lossk__run_pointwise(&a, log_target ? LOSSK_SELECT(kl_div_log_target_block_##sfx) \
                                                     : LOSSK_SELECT(kl_div_block_##sfx),         \
                                      sizeof(T), reduction, batch_size, loss_out, n_threads, NULL); \
    }
KL_ENTRY(f32, float)
KL_ENTRY(f64, double)

#else /* LOSSK_TEMPLATE_PASS: one SIMD level, one dtype (real) */

#include "pass_helpers.h"

LOSSK_INLINE void LOSSK_FN(kl_elem)(const real *prm, real x, real t, real aux, real *loss,
                                    real *grad) {
    (void)prm;
    (void)aux;
    *loss = LOSSK_FN(times)(t, LOSSK_LOG(t)) - t * x;
    *grad = -t;
}

LOSSK_INLINE void LOSSK_FN(kl_log_target_elem)(const real *prm, real x, real t, real aux,
                                               real *loss, real *grad) {
    (void)prm;
    (void)aux;
    const real p = LOSSK_EXP(t);
    *loss = p * (t - x);
    *grad = -p;
}

#define EW_NAME kl_div
#define EW_ELEM LOSSK_FN(kl_elem)
#define EW_WEIGHT 0
#define EW_AUX 0
#include "driver_loop.h"

#define EW_NAME kl_div_log_target
#define EW_ELEM LOSSK_FN(kl_log_target_elem)
#define EW_WEIGHT 0
#define EW_AUX 0
#include "driver_loop.h"

#endif /* LOSSK_TEMPLATE_PASS */
