/*
 * margin_ranking_loss (= torch), element by element (driver.h), through the
 * family entry: x1 the prediction, x2 the aux operand and y the target
 * (-1 or 1), both broadcast to x1:
 *   z = margin - y (x1 - x2), loss = max(0, z) (param[1] < 0: x2 the
 *   prediction and x1 the aux operand, the same z),
 *   d/dx1 = -y where z >= 0 (torch's clamp passes the gradient at z = 0), else 0;
 *   d/dx2 = -d/dx1 (the driver's grad2).
 * Any y other than -1 and 1 (NaN included) is LOSSK_ERR_DOMAIN.
 */
#ifndef LOSSK_TEMPLATE_PASS

#include "driver.h"

enum { RANK_MARGIN = 0, RANK_SIGN = 1 };

#define LOSSK_TEMPLATE_FILE "pointwise/ranking.c"
#include "multiarch.h"

static lossk_block_fn margin_ranking_setup(const lossk_pointwise_args *in, ew_args *a) {
    const double margin = in->param[0];
    if (!(margin > -HUGE_VAL && margin < HUGE_VAL) || (in->n > 0 && !in->aux.data)) return NULL;
    a->param[RANK_MARGIN] = margin;
    /* param[1] < 0: pred is x2 and aux x1 (the roles swapped, so that a
       broadcast x1 need not be expanded); y then counts negated */
    a->param[RANK_SIGN] = in->param[1] < 0 ? -1.0 : 1.0;
    a->has_domain = 1;
    return EW_BLOCK_OF(in, margin_ranking);
}

const ew_loss lossk__ew_losses_ranking[] = {
    {"margin_ranking_loss", margin_ranking_setup, EW_TAKES_AUX | EW_TAKES_GRAD2, NULL},
    {NULL, NULL, 0, NULL}
};

#else /* LOSSK_TEMPLATE_PASS: one SIMD level, one dtype (real) */

#include "pass_helpers.h"

LOSSK_INLINE void LOSSK_FN(margin_ranking_elem)(const real *prm, real x1, real y, real x2,
                                                real *loss, real *grad) {
    /* (-y)(x2 - x1) = y (x1 - x2) exactly: swapped roles give the same bits */
    const real z = prm[RANK_MARGIN] - (prm[RANK_SIGN] * y) * (x1 - x2);
    *loss = z > 0 ? z : z <= 0 ? (real)0 : z;   /* NaN propagates */
    *grad = z >= 0 ? -(prm[RANK_SIGN] * y) : z < 0 ? (real)0 : z;
}

LOSSK_INLINE int LOSSK_FN(margin_ranking_check)(const real *prm, real x1, real y) {
    (void)prm;
    (void)x1;
    return y != 1 && y != -1;
}

#define EW_NAME margin_ranking
#define EW_ELEM LOSSK_FN(margin_ranking_elem)
#define EW_CHECK LOSSK_FN(margin_ranking_check)
#define EW_WEIGHT 0
#define EW_AUX 1
#include "driver_loop.h"

#endif /* LOSSK_TEMPLATE_PASS */
