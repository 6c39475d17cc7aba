/*
 * The block loop of one elementwise loss (elementwise.h), included in a
 * template pass once per loss, after defining:
 *   EW_NAME    the loss's name: defines LOSSK_FN(EW_NAME_block), a lossk_block_fn
 *   EW_ELEM    an inline void (const real *prm, real x, real t, real aux,
 *              real *loss, real *grad): the element's loss and d loss / d x
 *              (aux is 1 when the aux operand is absent)
 *   EW_WEIGHT  1 if the loss takes the `weight` operand, else 0
 *   EW_AUX     1 if the loss takes the `aux` operand, else 0
 *   EW_CHECK   optional: an inline int (const real *prm, real x, real t),
 *              nonzero for an element outside the loss's domain
 * and undefines them all. No include guard on purpose.
 */
#define EW__CAT(a, b) a##b
#define EW__XCAT(a, b) EW__CAT(a, b)
#define EW_FN(suffix) LOSSK_FN(EW__XCAT(EW_NAME, suffix))

/* The vectorized loop: losses to l, gradients (times w and gscale) to g.
   The flags are constants after inlining, so each combination is its own loop. */
LOSSK_INLINE void EW_FN(_chunk)(const real *LOSSK_RESTRICT prm, const real *LOSSK_RESTRICT x,
                                const real *LOSSK_RESTRICT t, const real *LOSSK_RESTRICT w,
                                const real *LOSSK_RESTRICT aux, int64_t len, real gscale,
                                real *LOSSK_RESTRICT l, real *LOSSK_RESTRICT g,
                                const int has_w, const int has_aux, const int has_g) {
    for (int64_t k = 0; k < len; k++) {
        real loss, grad;
        EW_ELEM(prm, x[k], t[k], has_aux ? aux[k] : (real)1, &loss, &grad);
        if (has_w) {
            loss *= w[k];
            grad *= w[k];
        }
        l[k] = loss;
        if (has_g) g[k] = grad * gscale;
    }
}

LOSSK_INLINE void EW_FN(_chunk_g)(const real *prm, const real *x, const real *t, const real *w,
                                  const real *aux, int64_t len, real gscale, real *l, real *g,
                                  const int has_g) {
    if (EW_WEIGHT && EW_AUX && w && aux) EW_FN(_chunk)(prm, x, t, w, aux, len, gscale, l, g, 1, 1, has_g);
    else if (EW_WEIGHT && w) EW_FN(_chunk)(prm, x, t, w, aux, len, gscale, l, g, 1, 0, has_g);
    else if (EW_AUX && aux) EW_FN(_chunk)(prm, x, t, w, aux, len, gscale, l, g, 0, 1, has_g);
    else EW_FN(_chunk)(prm, x, t, w, aux, len, gscale, l, g, 0, 0, has_g);
}

static int64_t EW_FN(_block)(const void *ctx, int64_t begin, int64_t end, double *acc_out,
                             void *scratch) {
    const ew_args *a = (const ew_args *)ctx;
    real prm[EW_MAX_PARAMS];
    for (int j = 0; j < EW_MAX_PARAMS; j++) prm[j] = (real)a->param[j];
    const real gscale = (real)a->grad_scale;
    const real *x = (const real *)a->x, *t = (const real *)a->t;
    real *grad = (real *)a->grad, *loss_none = (real *)a->loss_none;
    real *gbuf = (real *)scratch, *lbuf = gbuf + EW_CHUNK, *wbuf = lbuf + EW_CHUNK,
         *abuf = wbuf + EW_CHUNK;
    double acc[LOSSK_LANES];
    for (int j = 0; j < LOSSK_LANES; j++) acc[j] = 0.0;

    for (int64_t i = begin; i < end;) {
        int64_t len = end - i < EW_CHUNK ? end - i : EW_CHUNK;
        const real *w = NULL, *aux = NULL;
        if (EW_WEIGHT && a->weight.data) len = lossk__ew_run_length(&a->weight, i, len);
        if (EW_AUX && a->aux.data) len = lossk__ew_run_length(&a->aux, i, len);
        if (EW_WEIGHT && a->weight.data)
            w = (const real *)lossk__ew_operand_values(&a->weight, sizeof(real), i, len, wbuf);
        if (EW_AUX && a->aux.data)
            aux = (const real *)lossk__ew_operand_values(&a->aux, sizeof(real), i, len, abuf);
#ifdef EW_CHECK
        {
            int bad = 0;
            for (int64_t k = 0; k < len; k++) bad |= EW_CHECK(prm, x[i + k], t[i + k]);
            if (bad)
                for (int64_t k = 0; k < len; k++)
                    if (EW_CHECK(prm, x[i + k], t[i + k])) return i + k;
        }
#endif
        /* The loop writes the outputs directly, except the gradient over the
           prediction (in place) and streamed outputs: those go through L1. */
        real *g = !grad ? NULL : a->nt || grad == x ? gbuf : grad + i;
        real *l = a->nt || !loss_none ? lbuf : loss_none + i;
        if (g) EW_FN(_chunk_g)(prm, x + i, t + i, w, aux, len, gscale, l, g, 1);
        else EW_FN(_chunk_g)(prm, x + i, t + i, w, aux, len, gscale, l, gbuf, 0);

        /* the chunk's losses into the lanes (tail lanes in order) */
        int64_t k = 0;
        for (; k + LOSSK_LANES <= len; k += LOSSK_LANES)
            for (int j = 0; j < LOSSK_LANES; j++) acc[j] += (double)l[k + j];
        for (int j = 0; k < len; k++, j++) acc[j] += (double)l[k];

        if (a->nt) {
            if (grad) LOSSK_FN(stream_copy)(grad + i, gbuf, len);
            if (loss_none) LOSSK_FN(stream_copy)(loss_none + i, lbuf, len);
        } else if (g == gbuf) {
            memcpy(grad + i, gbuf, (size_t)len * sizeof(real));
        }
        i += len;
    }
    if (a->nt) lossk__stream_fence();
    double total = 0.0;
    for (int j = 0; j < LOSSK_LANES; j++) total += acc[j];
    acc_out[0] = total;
    return -1;
}

#undef EW_FN
#undef EW__XCAT
#undef EW__CAT
#undef EW_NAME
#undef EW_ELEM
#undef EW_WEIGHT
#undef EW_AUX
#undef EW_CHECK
