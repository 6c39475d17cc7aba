/*
 * Regression losses, element by element (driver.h), reached through the
 * family entry lossk_pointwise by their Python names. e = x - t, x the
 * prediction, t the target (any broadcast operand of x).
 */
#ifndef LOSSK_TEMPLATE_PASS

#include "driver.h"

#define LOSSK_TEMPLATE_FILE "pointwise/regression.c"
#include "multiarch.h"

static lossk_block_fn mse_setup(const lossk_pointwise_args *in, ew_args *a) {
    (void)a;
    return EW_BLOCK_OF(in, mse);
}

const ew_loss lossk__ew_losses_regression[] = {
    {"mse_loss", mse_setup, 0, NULL},
    {NULL, NULL, 0, NULL}
};

#else /* LOSSK_TEMPLATE_PASS: one SIMD level, one dtype (real) */

#include "pass_helpers.h"

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

#endif /* LOSSK_TEMPLATE_PASS */
