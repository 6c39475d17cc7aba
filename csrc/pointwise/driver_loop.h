/*
 * The block loop of one pointwise loss (driver.h), included in a
 * template pass once per loss, after defining:
 *   EW_NAME    the loss's name: defines LOSSK_FN(EW_NAME_block), a lossk_block_fn
 *   EW_ELEM    an inline void (const real *prm, real x, real t, real aux,
 *              real *loss, real *grad): the element's loss and d loss / d x
 *              (aux is 1 when the aux operand is absent)
 *   EW_WEIGHT  1 if the loss takes the `weight` operand, else 0
 *   EW_AUX     1 if the loss takes the `aux` operand, else 0
 *   EW_CHECK   optional: an inline int (const real *prm, real x, real t),
 *              nonzero for an element outside the loss's domain (the
 *              loss's entry point then sets ew_args.has_domain, so that
 *              in-place calls are checked before anything is written)
 *   EW_VEC     optional, AVX-512 float pass only (LOSSK_AVX512_F32): an
 *              inline void (const __m512 *K, const __m512 x[2],
 *              const __m512 t[2], const __m512 aux[2], __m512 gscale,
 *              __m512 loss[2], __m512 grad[2], int has_aux): EW_ELEM on two
 *              vectors of 16 elements with |x| <= EW_VEC_X_MAX and finite t
 *              (other elements go to EW_ELEM), the gradients times gscale
 *              (which a kernel may fold into a division it does anyway)
 *   EW_VEC_X_MAX  with EW_VEC: the largest |x| it computes to EW_ELEM's
 *              accuracy
 *   EW_VEC_SETUP  with EW_VEC: an inline void (const real *prm, __m512 *K)
 *              filling up to EW_VEC_MAX_K constants of EW_VEC
 *   EW_VEC_T_UNIT  optional, with EW_VEC: 1 if EW_VEC takes only t in
 *              [0, 1] (instead of any finite t)
 *   EW_VEC_X_UNIT  optional, with EW_VEC: 1 if EW_VEC takes only x in
 *              [0, EW_VEC_X_MAX] (instead of |x| <= EW_VEC_X_MAX)
 *   EW_VEC_T_LOUD  optional, with EW_VEC and not EW_VEC_T_UNIT: 1 if EW_VEC's
 *              loss is inf or NaN wherever t is (for the x it takes); the
 *              chunk's loss sum then checks t, not a test per vector
 *   EW_VEC8    optional, used where EW_VEC is not, in the AVX2 and AVX-512
 *              float passes (PW_VEC8, vec_math.h): an inline __m256
 *              (const real *prm, __m256 x, __m256 t, __m256 aux, __m256 gscale,
 *              __m256 *loss, __m256 *grad, int has_aux): EW_ELEM on 8 lanes,
 *              the gradients times gscale; returns the lanes it takes (all
 *              ones), the others are redone by EW_ELEM
 *   With both EW_CHECK and EW_VEC, every element EW_VEC takes must pass
 *   EW_CHECK: the check then runs only on the chunks EW_VEC did not take
 *   whole, after their vector pass, instead of a pass of its own before it
 *   (a read of x and t saved).
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

#if defined(EW_VEC8) && !defined(EW_VEC) && PW_VEC8
/* EW_VEC8 on 8 elements at k (the lanes of m only), times w, stored; the
   lanes it does not take are redone by EW_ELEM, one by one, so that each
   element's bits depend on its own operands only. */
LOSSK_INLINE void EW_FN(_vec8_at)(const real *LOSSK_RESTRICT prm, const real *LOSSK_RESTRICT x,
                                  const real *LOSSK_RESTRICT t, const real *LOSSK_RESTRICT w,
                                  const real *LOSSK_RESTRICT aux, int64_t k, __m256i m, const int full,
                                  __m256 gs, real gscale, real *LOSSK_RESTRICT l, real *LOSSK_RESTRICT g,
                                  const int has_w, const int has_aux, const int has_g) {
#define EW__LOAD8(p) (full ? _mm256_loadu_ps((p) + k) : _mm256_maskload_ps((p) + k, m))
    const __m256 xv = EW__LOAD8(x), tv = EW__LOAD8(t), av = has_aux ? EW__LOAD8(aux) : _mm256_set1_ps(1.0f);
    __m256 lv, gv;
    const __m256 ok = EW_VEC8(prm, xv, tv, av, gs, &lv, &gv, has_aux);
    if (has_w) {
        const __m256 wv = EW__LOAD8(w);
        lv = _mm256_mul_ps(lv, wv);
        gv = _mm256_mul_ps(gv, wv);
    }
#undef EW__LOAD8
    if (full) {
        _mm256_storeu_ps(l + k, lv);
        if (has_g) _mm256_storeu_ps(g + k, gv);
    } else {
        _mm256_maskstore_ps(l + k, m, lv);
        if (has_g) _mm256_maskstore_ps(g + k, m, gv);
    }
    unsigned redo = ~(unsigned)_mm256_movemask_ps(ok) & (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(m));
    while (redo) {
        const int q = __builtin_ctz(redo);
        real lq, gq;
        redo &= redo - 1;
        EW_FN(_chunk)(prm, x + k + q, t + k + q, has_w ? w + k + q : w, has_aux ? aux + k + q : aux, 1,
                      gscale, &lq, &gq, has_w, has_aux, 1);
        l[k + q] = lq;
        if (has_g) g[k + q] = gq;
    }
}

/* The chunk through EW_VEC8: two vectors at a time (their latency chains
   overlap), then the rest one at a time, the last masked. */
LOSSK_INLINE void EW_FN(_chunk8)(const real *LOSSK_RESTRICT prm, const real *LOSSK_RESTRICT x,
                                 const real *LOSSK_RESTRICT t, const real *LOSSK_RESTRICT w,
                                 const real *LOSSK_RESTRICT aux, int64_t len, real gscale,
                                 real *LOSSK_RESTRICT l, real *LOSSK_RESTRICT g,
                                 const int has_w, const int has_aux, const int has_g) {
    const __m256 gs = _mm256_set1_ps(gscale);
    const __m256i all = _mm256_set1_epi32(-1), lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    int64_t k = 0;
    for (; k + 16 <= len; k += 16) {
        EW_FN(_vec8_at)(prm, x, t, w, aux, k, all, 1, gs, gscale, l, g, has_w, has_aux, has_g);
        EW_FN(_vec8_at)(prm, x, t, w, aux, k + 8, all, 1, gs, gscale, l, g, has_w, has_aux, has_g);
    }
    for (; k < len; k += 8) {
        const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(len - k < 8 ? len - k : 8)), lane);
        EW_FN(_vec8_at)(prm, x, t, w, aux, k, m, 0, gs, gscale, l, g, has_w, has_aux, has_g);
    }
}
#endif

LOSSK_INLINE void EW_FN(_chunk_g)(const real *prm, const real *x, const real *t, const real *w,
                                  const real *aux, int64_t len, real gscale, real *l, real *g,
                                  const int has_g) {
#if defined(EW_VEC8) && !defined(EW_VEC) && PW_VEC8
#  define EW__CHUNK EW_FN(_chunk8)
#else
#  define EW__CHUNK EW_FN(_chunk)
#endif
    if (EW_WEIGHT && EW_AUX && w && aux) EW__CHUNK(prm, x, t, w, aux, len, gscale, l, g, 1, 1, has_g);
    else if (EW_WEIGHT && w) EW__CHUNK(prm, x, t, w, aux, len, gscale, l, g, 1, 0, has_g);
    else if (EW_AUX && aux) EW__CHUNK(prm, x, t, w, aux, len, gscale, l, g, 0, 1, has_g);
    else EW__CHUNK(prm, x, t, w, aux, len, gscale, l, g, 0, 0, has_g);
#undef EW__CHUNK
}

#ifdef EW_VEC
#define EW_VEC_MAX_K 8
#ifndef EW_VEC_T_UNIT
#  define EW_VEC_T_UNIT 0
#endif
#ifndef EW_VEC_X_UNIT
#  define EW_VEC_X_UNIT 0
#endif
#ifndef EW_VEC_T_LOUD
#  define EW_VEC_T_LOUD 0
#endif
/* The elements EW_VEC computes; EW_ELEM redoes the others. */
#define EW_VEC_TAKES(xk, tk)                                                                   \
    ((EW_VEC_X_UNIT ? (xk) >= 0 && (xk) <= EW_VEC_X_MAX : LOSSK_ABS(xk) <= EW_VEC_X_MAX) && \
     (EW_VEC_T_UNIT ? (tk) >= 0 && (tk) <= 1 : isfinite(tk)))
/* EW_VEC on the pair of vectors at k and k + 16; masked: only the lanes in
   m[0], m[1] are loaded (the others are 0) and stored (through a buffer: a
   masked 512-bit store was much slower on Zen 4 with 2 threads). Adds
   t - t to *bad (NaN if a t is NaN or inf; EW_VEC_T_UNIT: takes the
   largest bits of t into *tbits instead, above those of 1 for any t
   outside [0, 1], -0 included; EW_VEC_T_LOUD: nothing) and takes the
   largest bits of -|x| into *xabs (as unsigned integers they order |x|
   with inf and NaN above every finite value: one check for both; -|x| =
   x | -0 is the logistic kernels' own, which the compiler shares;
   EW_VEC_X_UNIT: of x, so that any sign bit counts too). Adds the losses to
   the 16 double lanes sum[] in index order, as chunk_lane_sum does, but
   here among the FMAs rather than in a pass of its own (sigmoid focal: 5 %
   faster), converted from where they were just stored. */
LOSSK_INLINE void EW_FN(_vec_pair)(const __m512 *K, const real *LOSSK_RESTRICT x,
                                   const real *LOSSK_RESTRICT t, const real *LOSSK_RESTRICT w,
                                   const real *LOSSK_RESTRICT aux, int64_t k, const __mmask16 m[2],
                                   __m512 gs, real *LOSSK_RESTRICT l, real *LOSSK_RESTRICT g,
                                   __m512 *bad, __m512i *tbits, __m512i *xabs, __m512d sum[2],
                                   const int masked,
                                   const int has_w,
                                   const int has_aux, const int has_g) {
    __m512 xv[2], tv[2], av[2], lv[2], gv[2];
#define EW__LOAD(p, j) \
    (masked ? _mm512_maskz_loadu_ps(m[j], (p) + k + 16 * (j)) : _mm512_loadu_ps((p) + k + 16 * (j)))
    LOSSK_PAIR xv[j] = EW__LOAD(x, j);
    LOSSK_PAIR tv[j] = EW__LOAD(t, j);
    LOSSK_PAIR av[j] = has_aux ? EW__LOAD(aux, j) : _mm512_set1_ps(1.0f);
    EW_VEC(K, xv, tv, av, gs, lv, gv, has_aux);
    if (has_w) {
        LOSSK_PAIR {
            const __m512 wv = EW__LOAD(w, j);
            lv[j] = _mm512_mul_ps(lv[j], wv);
            gv[j] = _mm512_mul_ps(gv[j], wv);
        }
    }
#undef EW__LOAD
    if (EW_VEC_T_UNIT) LOSSK_PAIR *tbits = _mm512_max_epu32(*tbits, _mm512_castps_si512(tv[j]));
    else if (!EW_VEC_T_LOUD) LOSSK_PAIR *bad = _mm512_add_ps(*bad, _mm512_sub_ps(tv[j], tv[j]));
    LOSSK_PAIR *xabs = _mm512_max_epu32(
        *xabs, _mm512_castps_si512(EW_VEC_X_UNIT ? xv[j] : _mm512_or_ps(xv[j], _mm512_set1_ps(-0.0f))));
    if (!masked) {
        LOSSK_PAIR _mm512_storeu_ps(l + k + 16 * j, lv[j]);
        if (has_g) LOSSK_PAIR _mm512_storeu_ps(g + k + 16 * j, gv[j]);
        LOSSK_PAIR lossk__add16_pd(sum, l + k + 16 * j);
    } else {
        float lb[32], gb[32];
        LOSSK_PAIR lv[j] = _mm512_maskz_mov_ps(m[j], lv[j]);   /* lanes outside add 0 */
        LOSSK_PAIR _mm512_storeu_ps(lb + 16 * j, lv[j]);
        if (has_g) LOSSK_PAIR _mm512_storeu_ps(gb + 16 * j, gv[j]);
        LOSSK_PAIR lossk__add16_pd(sum, lb + 16 * j);
        const uint32_t mm = (uint32_t)m[0] | (uint32_t)m[1] << 16;
        for (int q = 0; q < 32; q++) {
            if (!((mm >> q) & 1u)) continue;
            l[k + q] = lb[q];
            if (has_g) g[k + q] = gb[q];
        }
    }
}

/* The chunk through EW_VEC: losses to l and into the block's lanes acc
   (lane0: the chunk's offset in the block, mod 16), gradients times w and
   gscale to g (the last pair masked). Returns 1 if it may have met an
   element that EW_VEC_TAKES not: then acc is untouched, the values written
   for those elements do not count, and the caller redoes them with EW_ELEM
   and sums l itself. */
LOSSK_INLINE int EW_FN(_chunk_vec)(const __m512 *K, const real *x, const real *t, const real *w,
                                   const real *aux, int64_t len, real gscale, real *l, real *g,
                                   double *acc, int64_t lane0, const int has_w, const int has_aux,
                                   const int has_g) {
    const __m512 gs = _mm512_set1_ps(gscale);
    __m512 bad = _mm512_setzero_ps();
    __m512i xabs = _mm512_setzero_si512(), tbits = _mm512_setzero_si512();
    __mmask16 m[2] = {0xFFFF, 0xFFFF};
    double rot[16];
    lossk__rotate16(rot, acc, lane0);
    __m512d sum[2] = {_mm512_loadu_pd(rot), _mm512_loadu_pd(rot + 8)};
    int64_t k = 0;
    for (; k + 32 <= len; k += 32)
        EW_FN(_vec_pair)(K, x, t, w, aux, k, m, gs, l, g, &bad, &tbits, &xabs, sum, 0, has_w, has_aux, has_g);
    if (k < len) {
        m[0] = lossk__lanes_in(k, len);
        m[1] = lossk__lanes_in(k + 16, len);
        EW_FN(_vec_pair)(K, x, t, w, aux, k, m, gs, l, g, &bad, &tbits, &xabs, sum, 1, has_w, has_aux, has_g);
    }
    /* EW_VEC_T_LOUD: the sums are finite unless a loss is not (16 Mi floats
       stay far below double's range) */
    __m512d loud = _mm512_setzero_pd();
    if (EW_VEC_T_LOUD) LOSSK_PAIR loud = _mm512_add_pd(loud, _mm512_sub_pd(sum[j], sum[j]));
    if (_mm512_cmp_pd_mask(loud, loud, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(bad, bad, _CMP_UNORD_Q) |
        _mm512_cmpgt_epu32_mask(tbits, _mm512_castps_si512(_mm512_set1_ps(1.0f))) |
        _mm512_cmpgt_epu32_mask(xabs, _mm512_castps_si512(_mm512_set1_ps(EW_VEC_X_UNIT ? EW_VEC_X_MAX : -EW_VEC_X_MAX))))
        return 1;
    _mm512_storeu_pd(rot, sum[0]);
    _mm512_storeu_pd(rot + 8, sum[1]);
    lossk__unrotate16(acc, rot, lane0);
    return 0;
}

LOSSK_INLINE int EW_FN(_chunk_vec_g)(const __m512 *K, const real *x, const real *t, const real *w,
                                     const real *aux, int64_t len, real gscale, real *l, real *g,
                                     double *acc, int64_t lane0, const int has_g) {
    if (EW_WEIGHT && EW_AUX && w && aux) return EW_FN(_chunk_vec)(K, x, t, w, aux, len, gscale, l, g, acc, lane0, 1, 1, has_g);
    if (EW_WEIGHT && w) return EW_FN(_chunk_vec)(K, x, t, w, aux, len, gscale, l, g, acc, lane0, 1, 0, has_g);
    if (EW_AUX && aux) return EW_FN(_chunk_vec)(K, x, t, w, aux, len, gscale, l, g, acc, lane0, 0, 1, has_g);
    return EW_FN(_chunk_vec)(K, x, t, w, aux, len, gscale, l, g, acc, lane0, 0, 0, has_g);
}
#endif

#ifdef EW_CHECK
/* The first k < len with (x[k], t[k]) outside the domain, or -1: a pass
   without branches, and a second one only when it found something. */
static int64_t EW_FN(_first_bad)(const real *prm, const real *x, const real *t, int64_t len) {
    int bad = 0;
    for (int64_t k = 0; k < len; k++) bad |= EW_CHECK(prm, x[k], t[k]);
    if (bad)
        for (int64_t k = 0; k < len; k++)
            if (EW_CHECK(prm, x[k], t[k])) return k;
    return -1;
}
#endif

static int64_t EW_FN(_block)(const void *ctx, int64_t begin, int64_t end, double *acc_out,
                             void *scratch) {
    const ew_args *a = (const ew_args *)ctx;
    real prm[EW_MAX_PARAMS];
    for (int j = 0; j < EW_MAX_PARAMS; j++) prm[j] = (real)a->param[j];
    real *tbuf = (real *)scratch + 4 * EW_CHUNK;
    if (a->check_only) {
#ifdef EW_CHECK
        for (int64_t i = begin; i < end;) {
            int64_t len = end - i < EW_CHUNK ? end - i : EW_CHUNK;
            const real *tc = (const real *)a->t + i;
            if (!a->target_full) {
                len = lossk__ew_run_length(&a->target, i, len);
                tc = (const real *)lossk__ew_operand_values(&a->target, sizeof(real), i, len, tbuf);
            }
            const int64_t k = EW_FN(_first_bad)(prm, (const real *)a->x + i, tc, len);
            if (k >= 0) return i + k;
            i += len;
        }
#endif
        return -1;
    }
    const real gscale = (real)a->grad_scale;
    const real *x = (const real *)a->x, *t = (const real *)a->t;
    real *grad = (real *)a->grad, *loss_none = (real *)a->loss_none;
    real *gbuf = (real *)scratch, *lbuf = gbuf + EW_CHUNK, *wbuf = lbuf + EW_CHUNK,
         *abuf = wbuf + EW_CHUNK;
    double acc[LOSSK_LANES];
    for (int j = 0; j < LOSSK_LANES; j++) acc[j] = 0.0;
#ifdef EW_VEC
    __m512 K[EW_VEC_MAX_K];
    EW_VEC_SETUP(prm, K);
#endif

    for (int64_t i = begin; i < end;) {
        int64_t len = end - i < EW_CHUNK ? end - i : EW_CHUNK;
#if defined(EW_VEC) || (defined(EW_VEC8) && PW_VEC8)
        /* The first chunk ends where the main output is 64-byte aligned, so
           that the vectors of the others are (unaligned ones straddle two
           cache lines). Only for the hand-written vector kernels, whose
           elements take the same operations wherever a vector starts (their
           leftovers go through the vector code, masked, or EW_ELEM for the
           lanes they do not take); a compiler-vectorized loop may round its
           scalar epilogue differently (sigmoid focal's pow did, in the
           CMake build), so its chunks stay where the index puts them.
           Sums do not depend on it: lanes follow the index. */
        if (i == begin) {
            const real *ref = grad ? grad + i : loss_none ? loss_none + i : x + i;
            const int64_t head = ((uintptr_t)ref & (sizeof(real) - 1)) ? 0 : (int64_t)((-(uintptr_t)ref & 63u) / sizeof(real));
            if (head > 0 && head < len) len = head;
        }
#endif
        const real *w = NULL, *aux = NULL, *tc = a->target_full ? t + i : NULL;
        if (!a->target_full) len = lossk__ew_run_length(&a->target, i, len);
        if (EW_WEIGHT && a->weight.data) len = lossk__ew_run_length(&a->weight, i, len);
        if (EW_AUX && a->aux.data) len = lossk__ew_run_length(&a->aux, i, len);
        if (EW_WEIGHT && a->weight.data)
            w = (const real *)lossk__ew_operand_values(&a->weight, sizeof(real), i, len, wbuf);
        if (EW_AUX && a->aux.data)
            aux = (const real *)lossk__ew_operand_values(&a->aux, sizeof(real), i, len, abuf);
        /* a broadcast target: its values for the chunk, as the weights' */
        if (!a->target_full) tc = (const real *)lossk__ew_operand_values(&a->target, sizeof(real), i, len, tbuf);
#if defined(EW_CHECK) && !defined(EW_VEC)
        {
            const int64_t k = EW_FN(_first_bad)(prm, x + i, tc, len);
            if (k >= 0) return i + k;
        }
#endif
        /* The loop writes the outputs directly, except the gradient over the
           prediction (in place) and streamed outputs: those go through L1. */
        real *g = !grad ? NULL : a->nt || grad == x ? gbuf : grad + i;
        real *l = a->nt || !loss_none ? lbuf : loss_none + i;
        const int64_t lane0 = (i - begin) % LOSSK_LANES;
#ifdef EW_VEC
        if (EW_FN(_chunk_vec_g)(K, x + i, tc, w, aux, len, gscale, l, g, acc, lane0, g != NULL)) {
#ifdef EW_CHECK
            {
                const int64_t k = EW_FN(_first_bad)(prm, x + i, tc, len);
                if (k >= 0) return i + k;
            }
#endif
            /* EW_ELEM redoes just the elements EW_VEC does not take (its
               selects give the limits there), so that no element's bits
               depend on where the chunks and vectors fall */
            for (int64_t k = 0; k < len; k++) {
                if (EW_VEC_TAKES(x[i + k], tc[k])) continue;
                EW_FN(_chunk_g)(prm, x + i + k, tc + k, w ? w + k : NULL, aux ? aux + k : NULL, 1, gscale,
                                l + k, g ? g + k : gbuf, g != NULL);
            }
            LOSSK_FN(chunk_lane_sum)(l, len, acc, lane0);
        }
#else
        if (g) EW_FN(_chunk_g)(prm, x + i, tc, w, aux, len, gscale, l, g, 1);
        else EW_FN(_chunk_g)(prm, x + i, tc, w, aux, len, gscale, l, gbuf, 0);
        LOSSK_FN(chunk_lane_sum)(l, len, acc, lane0);
#endif

        if (a->grad2) {
            /* losses of x1 - x2 (margin ranking): d/dx2 = -d/dx1 */
            real *g2 = (real *)a->grad2 + i;
            for (int64_t k = 0; k < len; k++) g2[k] = -g[k];
        }
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
#undef EW_VEC
#undef EW_VEC_SETUP
#undef EW_VEC_X_MAX
#undef EW_VEC_T_UNIT
#undef EW_VEC_X_UNIT
#undef EW_VEC_T_LOUD
#undef EW_VEC_TAKES
#undef EW_VEC8
