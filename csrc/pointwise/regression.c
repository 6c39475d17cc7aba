/*
 * Regression losses, element by element (driver.h), reached through the
 * family entry lossk_pointwise by their Python names. e = x - t, x the
 * prediction, t the target (any broadcast operand of x).
 */
#ifndef LOSSK_TEMPLATE_PASS

#include "driver.h"

#define LOSSK_TEMPLATE_FILE "pointwise/regression.c"
#include "multiarch.h"

const ew_loss lossk__ew_losses_regression[] = {
    {NULL, NULL, 0, NULL}
};

#else /* LOSSK_TEMPLATE_PASS: one SIMD level, one dtype (real) */

#include "pass_helpers.h"

#endif /* LOSSK_TEMPLATE_PASS */
