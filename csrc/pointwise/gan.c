/*
 * GAN losses (torchgan's conventions), element by element (driver.h),
 * through the family entry. Each call covers one input (d_real or d_fake);
 * a discriminator is two calls whose "mean"s divide by their own sizes.
 * The target is a broadcast scalar:
 *   lsgan_*:       t = the input's label (a, b or c), loss (x - t)^2 / 2,
 *                  gradient x - t (the 1/2 folded in: no pass to halve);
 *   wasserstein_*: t = the input's sign (+1 for d_fake in the critic, -1 for
 *                  d_real and for the generator), loss t x, gradient t.
 */
#ifndef LOSSK_TEMPLATE_PASS

#include "driver.h"

#define LOSSK_TEMPLATE_FILE "pointwise/gan.c"
#include "multiarch.h"

static lossk_block_fn lsgan_setup(const lossk_pointwise_args *in, ew_args *a) {
    (void)a;
    return EW_BLOCK_OF(in, lsgan);
}

static lossk_block_fn wasserstein_setup(const lossk_pointwise_args *in, ew_args *a) {
    (void)a;
    return EW_BLOCK_OF(in, wasserstein);
}

const ew_loss lossk__ew_losses_gan[] = {
    {"lsgan_discriminator_loss", lsgan_setup, 0, NULL},
    {"lsgan_generator_loss", lsgan_setup, 0, NULL},
    {"wasserstein_discriminator_loss", wasserstein_setup, 0, NULL},
    {"wasserstein_generator_loss", wasserstein_setup, 0, NULL},
    {NULL, NULL, 0, NULL}
};

#else /* LOSSK_TEMPLATE_PASS: one SIMD level, one dtype (real) */

#include "pass_helpers.h"

LOSSK_INLINE void LOSSK_FN(lsgan_elem)(const real *prm, real x, real t, real aux, real *loss,
                                       real *grad) {
    (void)prm;
    (void)aux;
    const real e = x - t;
    *loss = (real)0.5 * (e * e);
    *grad = e;
}

#define EW_NAME lsgan
#define EW_ELEM LOSSK_FN(lsgan_elem)
#define EW_WEIGHT 0
#define EW_AUX 0
#include "driver_loop.h"

LOSSK_INLINE void LOSSK_FN(wasserstein_elem)(const real *prm, real x, real t, real aux, real *loss,
                                             real *grad) {
    (void)prm;
    (void)aux;
    *loss = t * x;
    *grad = t;
}

#define EW_NAME wasserstein
#define EW_ELEM LOSSK_FN(wasserstein_elem)
#define EW_WEIGHT 0
#define EW_AUX 0
#include "driver_loop.h"

#endif /* LOSSK_TEMPLATE_PASS */
