/*
 * Linear-chain CRF (pytorch-crf's CRF, batch first): the negative
 * log-likelihood with its gradients, and Viterbi decoding.
 *
 * A sequence b of length L (its mask a prefix of L >= 1 steps) with tags y:
 *   score = start[y_0] + em[0, y_0] + sum_{t<L} (tr[y_{t-1}, y_t] + em[t, y_t]) + end[y_{L-1}]
 *   logZ  = log sum over all tag paths of exp(score)      (forward algorithm)
 *   loss  = logZ - score
 * The gradients are the marginals minus the gold path's counts: for the
 * emissions gamma_t(j) = P(y_t = j), for the transitions the pair marginals
 * xi_t(i, j) = P(y_{t-1} = i, y_t = j) summed over t, for start and end
 * gamma_0 and gamma_{L-1} (forward-backward).
 *
 * Numerics: everything runs in double whatever the input dtype. The forward
 * step alpha_t[j] = em[t, j] + log sum_i exp(alpha_{t-1}[i] + tr[i, j]) is a
 * matrix-vector product in scaled probability space, K exps and K logs per
 * step instead of K^2 exps: with A = max_i alpha_{t-1}[i], p_i =
 * exp(alpha_{t-1}[i] - A) and E[i, j] = exp(tr[i, j] - c_j), c_j the column
 * maximum, alpha_t[j] = em[t, j] + c_j + A + log S_j, S_j = sum_i p_i E[i, j].
 * Every factor is <= 1 and the largest term is exact to rounding unless S_j
 * itself is tiny; then (S_j < CRF_TINY, or any non-finite value) that column
 * is computed as an exact log-sum-exp, so transitions of -1e4 stay exact.
 * The backward pass is the same with row maxima. The pair marginals of a
 * scaled column factor as xi_t(i, j) = p_i E[i, j] gamma_t(j) / S_j, so their
 * sum over t is E[i, j] times a sum of rank-1 products (K^2 multiply-adds per
 * step, no exps); exact columns add exp(alpha + tr + em + beta - logZ).
 *
 * Sequences are the items of lossk__run_blocks: blocks of a size that depends
 * on (B, T, K) only, each summing its loss and (K, K), (K,), (K,) gradients in
 * double, the blocks added in order: bitwise identical for every n_threads.
 */
#ifndef LOSSK_TEMPLATE_PASS

#include <limits.h>
#include <stdlib.h>

#include "internal.h"

/* Below this a scaled sum may have lost terms of comparable size to
   underflow (each lost term is < 1e-307): the column is recomputed exactly. */
#define CRF_TINY 1e-270
/* Per-block partial sums: at most this many blocks, and about this many
   doubles of partials in all (the (K, K) gradient is one block's share). */
#define CRF_MAX_BLOCKS 64
#define CRF_PARTIAL_DOUBLES ((int64_t)1 << 22)

typedef struct crf_ctx {
    const void *em;                 /* B x T x K of the dtype */
    const void *tags;               /* B x T, int32/int64 (NLL only) */
    lossk_index_type tags_type;
    const int64_t *lengths;         /* B lengths in [1, T], or NULL: all T */
    int64_t B, T, K;
    const double *tr;               /* K x K transitions */
    const double *st, *en;          /* start, end */
    const double *E, *c;            /* E[i K + j] = exp(tr_ij - c_j), c_j = max_i tr_ij */
    const double *Ft, *r;           /* Ft[j K + i] = exp(tr_ij - r_i), r_i = max_j tr_ij */
    int fast;                       /* transitions finite: the scaled products apply */
    const void *tr_raw, *st_raw, *en_raw;  /* the dtype's own values (decode) */
    void *loss_none;                /* B losses, or NULL */
    void *grad_em;                  /* B x T x K, or NULL: no gradient work */
    const double *upstream;         /* B weights of the losses in the gradients, or NULL: all 1 */
    double scale;                   /* d(returned loss) / d(sum of the losses) */
    int64_t *paths;                 /* decode: B x T */
} crf_ctx;

/* Scratch doubles of one thread for the NLL: alpha, p, S (T x K each), the
   rank-1 sums W (K x K) and 6 vectors of K. */
static int64_t crf_scratch_doubles(int64_t T, int64_t K) { return 3 * T * K + K * K + 6 * K; }

#define LOSSK_TEMPLATE_FILE "crf/crf.c"
#include "multiarch.h"

/* Transitions, start and end in double, and the shifted exponentials. */
static lossk_status crf_prepare(crf_ctx *x, lossk_dtype dtype, const void *tr, const void *st,
                                const void *en, double **buf_out) {
    const int64_t K = x->K;
    double *buf = (double *)malloc((size_t)(3 * K * K + 4 * K) * sizeof(double));
    if (!buf) return LOSSK_ERR_NO_MEMORY;
    double *t = buf, *E = buf + K * K, *Ft = buf + 2 * K * K, *s = buf + 3 * K * K, *e = s + K,
           *c = s + 2 * K, *r = s + 3 * K;
    int finite = 1;
    for (int64_t k = 0; k < K * K; k++) {
        t[k] = dtype == LOSSK_DTYPE_F32 ? (double)((const float *)tr)[k] : ((const double *)tr)[k];
        finite &= isfinite(t[k]) != 0;
    }
    for (int64_t k = 0; k < K; k++) {
        s[k] = dtype == LOSSK_DTYPE_F32 ? (double)((const float *)st)[k] : ((const double *)st)[k];
        e[k] = dtype == LOSSK_DTYPE_F32 ? (double)((const float *)en)[k] : ((const double *)en)[k];
    }
    for (int64_t j = 0; j < K; j++) {
        double m = t[j];
        for (int64_t i = 1; i < K; i++) m = t[i * K + j] > m ? t[i * K + j] : m;
        c[j] = m;
    }
    for (int64_t i = 0; i < K; i++) {
        double m = t[i * K];
        for (int64_t j = 1; j < K; j++) m = t[i * K + j] > m ? t[i * K + j] : m;
        r[i] = m;
    }
    for (int64_t i = 0; i < K; i++)
        for (int64_t j = 0; j < K; j++) {
            E[i * K + j] = finite ? exp(t[i * K + j] - c[j]) : 0.0;
            Ft[j * K + i] = finite ? exp(t[i * K + j] - r[i]) : 0.0;
        }
    x->tr = t; x->E = E; x->Ft = Ft; x->st = s; x->en = e; x->c = c; x->r = r;
    x->fast = finite;
    *buf_out = buf;
    return LOSSK_OK;
}

static int crf_check_lengths(const int64_t *lengths, int64_t B, int64_t T) {
    if (!lengths) return 1;
    for (int64_t b = 0; b < B; b++)
        if (lengths[b] < 1 || lengths[b] > T) return 0;
    return 1;
}

lossk_status lossk_crf(const char *op, lossk_crf_args *a) {
    if (!op || !a || a->size < sizeof(size_t)) return LOSSK_ERR_INVALID_ARGUMENT;
    lossk_crf_args args;
    memset(&args, 0, sizeof args);
    memcpy(&args, a, a->size < sizeof args ? a->size : sizeof args);
    a->bad_index = -1;
    const int decode = strcmp(op, "crf_decode") == 0;
    if (!decode && strcmp(op, "crf_nll_loss") != 0) return LOSSK_ERR_INVALID_ARGUMENT;
    const int64_t B = args.batch, T = args.steps, K = args.num_tags;
    const lossk_reduction red = args.reduction;
    if (B < 0 || T < 0 || K < 1 || K > 46000 || (args.dtype != LOSSK_DTYPE_F32 && args.dtype != LOSSK_DTYPE_F64))
        return LOSSK_ERR_INVALID_ARGUMENT;
    if (B > 0 && T < 1) return LOSSK_ERR_INVALID_ARGUMENT;          /* sequences of no steps */
    if (T > 0 && B > INT64_MAX / T / K / 8) return LOSSK_ERR_INVALID_ARGUMENT;
    if (!args.transitions || !args.start_transitions || !args.end_transitions ||
        (B > 0 && !args.emissions) || !crf_check_lengths(args.lengths, B, T))
        return LOSSK_ERR_INVALID_ARGUMENT;
    if (decode) {
        if (B > 0 && !args.paths) return LOSSK_ERR_INVALID_ARGUMENT;
    } else {
        if ((red != LOSSK_REDUCTION_NONE && red != LOSSK_REDUCTION_MEAN && red != LOSSK_REDUCTION_SUM &&
             red != LOSSK_REDUCTION_TOKEN_MEAN) ||
            (B > 0 && !args.tags) || (args.tags_type != LOSSK_INDEX_INT32 && args.tags_type != LOSSK_INDEX_INT64) ||
            (red == LOSSK_REDUCTION_NONE ? (B > 0 && !args.loss_none) : !args.loss_out))
            return LOSSK_ERR_INVALID_ARGUMENT;
        const int any = args.grad_emissions || args.grad_transitions || args.grad_start || args.grad_end;
        if (any && (!(args.grad_emissions || B == 0) || !args.grad_transitions || !args.grad_start ||
                    !args.grad_end))
            return LOSSK_ERR_INVALID_ARGUMENT;               /* all four gradients or none */
        if (args.upstream && (red != LOSSK_REDUCTION_NONE || !any || (B > 0 && !args.grad_emissions)))
            return LOSSK_ERR_INVALID_ARGUMENT;               /* weights of "none" losses' gradients */
    }

    crf_ctx x;
    memset(&x, 0, sizeof x);
    x.em = args.emissions; x.tags = args.tags; x.tags_type = args.tags_type; x.lengths = args.lengths;
    x.B = B; x.T = T; x.K = K;
    x.tr_raw = args.transitions; x.st_raw = args.start_transitions; x.en_raw = args.end_transitions;
    const int f32 = args.dtype == LOSSK_DTYPE_F32;
    const size_t es = f32 ? sizeof(float) : sizeof(double);

    if (decode) {
        x.paths = args.paths;
        if (B == 0) return LOSSK_OK;
        const size_t scratch = (size_t)(T * K) * sizeof(int32_t) + (size_t)(2 * K) * es;
        const lossk_block_fn fn = f32 ? LOSSK_SELECT(crf_decode_block_f32) : LOSSK_SELECT(crf_decode_block_f64);
        double unused = 0.0;
        return lossk__run_blocks(B, lossk__block_items(T * K * K, 1 << 16),
                                 lossk__threads_for(args.n_threads, B * T * K * K, B), 0, scratch, fn, &x,
                                 &unused, NULL);
    }

    const int grads = args.grad_transitions != NULL;
    const int64_t n_acc = grads ? 1 + K * K + 2 * K : 1;
    int64_t tokens = 0;
    for (int64_t b = 0; b < B; b++) tokens += args.lengths ? args.lengths[b] : T;
    const double denom = red == LOSSK_REDUCTION_MEAN ? (double)B
                       : red == LOSSK_REDUCTION_TOKEN_MEAN ? (double)tokens : 1.0;
    x.scale = 1.0 / denom;          /* mean of nothing: inf, the loss is then NaN */
    x.loss_none = red == LOSSK_REDUCTION_NONE ? args.loss_none : NULL;
    x.grad_em = grads ? args.grad_emissions : NULL;
    x.upstream = args.upstream;

    double *buf = NULL;
    lossk_status s = crf_prepare(&x, args.dtype, args.transitions, args.start_transitions,
                                 args.end_transitions, &buf);
    if (s != LOSSK_OK) return s;
    double *sums = (double *)malloc((size_t)n_acc * sizeof(double));
    if (!sums) { free(buf); return LOSSK_ERR_NO_MEMORY; }
    /* blocks of sequences: a function of (B, T, K) only */
    int64_t per = (B + CRF_MAX_BLOCKS - 1) / CRF_MAX_BLOCKS;
    const int64_t mem_per = (B * n_acc + CRF_PARTIAL_DOUBLES - 1) / CRF_PARTIAL_DOUBLES;
    per = per > mem_per ? per : mem_per;
    per = per < 1 ? 1 : per;
    const lossk_block_fn fn = f32 ? LOSSK_SELECT(crf_nll_block_f32) : LOSSK_SELECT(crf_nll_block_f64);
    int64_t bad = -1;
    s = lossk__run_blocks(B, per, lossk__threads_for(args.n_threads, B * T * K * K, (B + per - 1) / per),
                          (int)n_acc, (size_t)crf_scratch_doubles(T, K) * sizeof(double), fn, &x, sums, &bad);
    if (s == LOSSK_OK && bad >= 0) {
        a->bad_index = bad;
        s = LOSSK_ERR_TARGET_RANGE;
    }
    if (s == LOSSK_OK) {
        if (red != LOSSK_REDUCTION_NONE) *args.loss_out = sums[0] * x.scale;
        if (grads) {
            const double sc = x.scale;
            for (int64_t k = 0; k < K * K; k++) {
                if (f32) ((float *)args.grad_transitions)[k] = (float)(sums[1 + k] * sc);
                else ((double *)args.grad_transitions)[k] = sums[1 + k] * sc;
            }
            for (int64_t k = 0; k < K; k++) {
                const double gs = sums[1 + K * K + k] * sc, ge = sums[1 + K * K + K + k] * sc;
                if (f32) { ((float *)args.grad_start)[k] = (float)gs; ((float *)args.grad_end)[k] = (float)ge; }
                else { ((double *)args.grad_start)[k] = gs; ((double *)args.grad_end)[k] = ge; }
            }
        }
    }
    (void)es;
    free(sums);
    free(buf);
    return s;
}

#else /* LOSSK_TEMPLATE_PASS: one SIMD level, one dtype (real) */

#include "pass_helpers.h"

#ifndef CRF_PASS_HELPERS
#define CRF_PASS_HELPERS
/* log sum exp of v[0..n) with NaN propagating and infinite maxima returned as
   they are (the reference's convention). */
static double crf_lse(const double *v, int64_t n) {
    double m = v[0];
    int nan = v[0] != v[0];
    for (int64_t k = 1; k < n; k++) {
        nan |= v[k] != v[k];
        m = v[k] > m ? v[k] : m;
    }
    if (nan) return NAN;
    if (!isfinite(m)) return m;
    double s = 0.0;
    for (int64_t k = 0; k < n; k++) s += exp(v[k] - m);
    return m + log(s);
}
#endif

int64_t LOSSK_FN(crf_nll_block)(const void *ctx, int64_t begin, int64_t end, double *acc, void *scratch);
int64_t LOSSK_FN(crf_nll_block)(const void *ctx, int64_t begin, int64_t end, double *acc, void *scratch) {
    const crf_ctx *x = (const crf_ctx *)ctx;
    const int64_t T = x->T, K = x->K;
    const int grads = x->grad_em != NULL;
    double *alpha = (double *)scratch, *P = alpha + T * K, *S = P + T * K, *W = S + T * K;
    double *beta = W + K * K, *nbeta = beta + K, *tmp = nbeta + K, *gam = tmp + K, *row = gam + K, *gq = row + K;
    double *gtr = acc + 1, *gst = acc + 1 + K * K, *gen = gst + K;
    const double *tr = x->tr, *E = x->E, *Ft = x->Ft, *c = x->c, *r = x->r;
    if (grads) memset(W, 0, (size_t)(K * K) * sizeof(double));
    double total = 0.0;
    int64_t bad = -1;
    for (int64_t b = begin; b < end; b++) {
        const int64_t L = x->lengths ? x->lengths[b] : T;
        const real *em = (const real *)x->em + b * T * K;
        /* tags in [0, K) within the length; a bad one stops the block */
        int64_t last = 0;
        for (int64_t t = 0; t < L; t++) {
            last = lossk__load_index(x->tags, x->tags_type, b * T + t);
            if (last < 0 || last >= K) { bad = b * T + t; break; }
        }
        if (bad >= 0) break;

        /* forward, relative to the gold path: alpha'_t = alpha_t minus the gold
           path's score up to t, each step's gold terms subtracted from its own
           (tr - tr[y_{t-1}, y_t], em - em[t, y_t]) so that large common offsets
           cancel exactly; then loss = logsumexp(alpha'_{L-1} + en - en[y]) */
        int64_t y0 = lossk__load_index(x->tags, x->tags_type, b * T);
        for (int64_t j = 0; j < K; j++)
            alpha[j] = (x->st[j] - x->st[y0]) + ((double)em[j] - (double)em[y0]);
        for (int64_t t = 1; t < L; t++) {
            const int64_t y = lossk__load_index(x->tags, x->tags_type, b * T + t);
            const double gt = tr[y0 * K + y], e_gold = (double)em[t * K + y];
            const double *ap = alpha + (t - 1) * K;
            double *at = alpha + t * K, *p = P + (t - 1) * K, *St = S + t * K;
            const real *et = em + t * K;
            double A = ap[0];
            int nan = 0;
            for (int64_t i = 0; i < K; i++) { A = ap[i] > A ? ap[i] : A; nan |= ap[i] != ap[i]; }
            const int scaled = x->fast && !nan && isfinite(A);
            if (scaled) {
                for (int64_t i = 0; i < K; i++) p[i] = lossk_exp(ap[i] - A);
                for (int64_t j = 0; j < K; j++) St[j] = 0.0;
                for (int64_t i = 0; i < K; i++) {
                    const double pi = p[i];
                    const double *Ei = E + i * K;
                    for (int64_t j = 0; j < K; j++) St[j] += pi * Ei[j];
                }
                for (int64_t j = 0; j < K; j++)
                    at[j] = ((double)et[j] - e_gold) + (c[j] - gt) + A + lossk_log(St[j]);
            } else {
                for (int64_t i = 0; i < K; i++) p[i] = 0.0;
                for (int64_t j = 0; j < K; j++) St[j] = 0.0;
            }
            for (int64_t j = 0; j < K; j++) {
                if (scaled && St[j] >= CRF_TINY) continue;
                for (int64_t i = 0; i < K; i++) tmp[i] = ap[i] + (tr[i * K + j] - gt);
                at[j] = ((double)et[j] - e_gold) + crf_lse(tmp, K);
                St[j] = 0.0;                                   /* marks an exact column */
            }
            y0 = y;
        }
        for (int64_t j = 0; j < K; j++) tmp[j] = alpha[(L - 1) * K + j] + (x->en[j] - x->en[last]);
        const double loss = crf_lse(tmp, K);   /* logZ - score: the log-normalizer relative to the gold path */
        total += loss;
        if (x->loss_none) ((real *)x->loss_none)[b] = (real)loss;
        if (!grads) continue;

        /* backward, relative to the gold path's score after t (beta'), the
           gradients written step by step from the last */
        /* u weights this sequence's share of every gradient (upstream=) */
        const double u = x->upstream ? x->upstream[b] : 1.0, sc = x->scale * u;
        real *g = (real *)x->grad_em + b * T * K;
        for (int64_t k = (int64_t)L * K; k < T * K; k++) g[k] = (real)0;    /* masked steps */
        for (int64_t j = 0; j < K; j++) beta[j] = x->en[j] - x->en[last];
        for (int64_t t = L - 1; t >= 0; t--) {
            const double *at = alpha + t * K;
            const real *et = em + t * K;
            const int64_t y = lossk__load_index(x->tags, x->tags_type, b * T + t);
            for (int64_t j = 0; j < K; j++) gam[j] = lossk_exp(at[j] + beta[j] - loss);
            if (t > 0) {
                /* beta'_{t-1}[i] = log sum_j exp((tr_ij - tr[y_{t-1}, y_t]) + (em[t, j] -
                   em[t, y_t]) + beta'_t[j]); reads em[t] before its gradient
                   overwrites it (in place) */
                const int64_t yp = lossk__load_index(x->tags, x->tags_type, b * T + t - 1);
                const double gt = tr[yp * K + y], e_gold = (double)et[y];
                double Bm = ((double)et[0] - e_gold) + beta[0];
                int nan = 0;
                for (int64_t j = 0; j < K; j++) {
                    tmp[j] = ((double)et[j] - e_gold) + beta[j];
                    Bm = tmp[j] > Bm ? tmp[j] : Bm;
                    nan |= tmp[j] != tmp[j];
                }
                const int scaled = x->fast && !nan && isfinite(Bm);
                for (int64_t i = 0; i < K; i++) nbeta[i] = 0.0;
                if (scaled) {
                    /* the exps first, a vector loop (inside the product they ran one by one) */
                    for (int64_t j = 0; j < K; j++) gq[j] = lossk_exp(tmp[j] - Bm);
                    for (int64_t j = 0; j < K; j++) {
                        const double qj = gq[j];
                        const double *Fj = Ft + j * K;
                        for (int64_t i = 0; i < K; i++) nbeta[i] += qj * Fj[i];
                    }
                }
                /* pair marginals of steps (t - 1, t) */
                const double *St = S + t * K, *p = P + (t - 1) * K, *ap = alpha + (t - 1) * K;
                int exact_col = 0;
                for (int64_t j = 0; j < K; j++) {                   /* v_j of a scaled column */
                    row[j] = St[j] > 0.0 ? u * gam[j] / St[j] : 0.0;
                    exact_col |= !(St[j] > 0.0);
                }
                for (int64_t j = 0; j < K && exact_col; j++) {
                    if (St[j] > 0.0) continue;
                    const double wj = tmp[j] - loss;
                    for (int64_t i = 0; i < K; i++) gtr[i * K + j] += u * exp(ap[i] + (tr[i * K + j] - gt) + wj);
                }
                for (int64_t i = 0; i < K; i++) {                       /* W += p v^T, rows contiguous */
                    const double pi = p[i];
                    double *Wi = W + i * K;
                    for (int64_t j = 0; j < K; j++) Wi[j] += pi * row[j];
                }
                /* beta_t is no longer needed: beta'_{t-1} replaces it (a vector loop,
                   then the exact rows) */
                int exact = !scaled;
                for (int64_t i = 0; i < K; i++) {
                    beta[i] = (r[i] - gt) + Bm + lossk_log(nbeta[i]);
                    exact |= !(nbeta[i] >= CRF_TINY);
                }
                for (int64_t i = 0; i < K && exact; i++) {
                    if (scaled && nbeta[i] >= CRF_TINY) continue;
                    for (int64_t j = 0; j < K; j++) row[j] = (tr[i * K + j] - gt) + tmp[j];
                    beta[i] = crf_lse(row, K);
                }
                gtr[yp * K + y] -= u;
            } else {
                for (int64_t j = 0; j < K; j++) gst[j] += u * gam[j];
                gst[y] -= u;
            }
            if (t == L - 1) {
                for (int64_t j = 0; j < K; j++) gen[j] += u * gam[j];
                gen[y] -= u;
            }
            real *gt = g + t * K;
            for (int64_t j = 0; j < K; j++) gt[j] = (real)(sc * gam[j]);
            gt[y] = (real)(sc * (gam[y] - 1.0));
        }
    }
    acc[0] = total;
    if (grads && bad < 0)
        for (int64_t k = 0; k < K * K; k++) gtr[k] += E[k] * W[k];
    return bad;
}

/* Viterbi in the dtype itself, with pytorch-crf's order of operations
   ((score_i + tr_ij) + em_j, the first maximum, NaN as the maximum), so that
   the paths are pytorch-crf's bit for bit, near-ties included. */
int64_t LOSSK_FN(crf_decode_block)(const void *ctx, int64_t begin, int64_t end, double *acc, void *scratch);
int64_t LOSSK_FN(crf_decode_block)(const void *ctx, int64_t begin, int64_t end, double *acc, void *scratch) {
    const crf_ctx *x = (const crf_ctx *)ctx;
    const int64_t T = x->T, K = x->K;
    const real *tr = (const real *)x->tr_raw, *st = (const real *)x->st_raw, *en = (const real *)x->en_raw;
    /* the scores first: scratch is aligned for them, the int32 back-pointers after
       them need only 4 bytes (after T*K of them a double could be misaligned) */
    real *score = (real *)scratch, *next = score + K;
    int32_t *bp = (int32_t *)(next + K);
    (void)acc;
    for (int64_t b = begin; b < end; b++) {
        const int64_t L = x->lengths ? x->lengths[b] : T;
        const real *em = (const real *)x->em + b * T * K;
        for (int64_t j = 0; j < K; j++) score[j] = st[j] + em[j];
        for (int64_t t = 1; t < L; t++) {
            const real *et = em + t * K;
            int32_t *bt = bp + t * K;
            for (int64_t j = 0; j < K; j++) { next[j] = (score[0] + tr[j]) + et[j]; bt[j] = 0; }
            for (int64_t i = 1; i < K; i++) {
                const real si = score[i];
                const real *ti = tr + i * K;
                for (int64_t j = 0; j < K; j++) {
                    const real v = (si + ti[j]) + et[j];
                    const int take = v > next[j] || (v != v && next[j] == next[j]);
                    next[j] = take ? v : next[j];
                    bt[j] = take ? (int32_t)i : bt[j];
                }
            }
            memcpy(score, next, (size_t)K * sizeof(real));
        }
        int64_t best = 0;
        real bv = score[0] + en[0];
        for (int64_t j = 1; j < K; j++) {
            const real v = score[j] + en[j];
            if (v > bv || (v != v && bv == bv)) { bv = v; best = j; }
        }
        int64_t *path = x->paths + b * T;
        path[L - 1] = best;
        for (int64_t t = L - 1; t > 0; t--) path[t - 1] = bp[t * K + path[t]];
        for (int64_t t = L; t < T; t++) path[t] = -1;
    }
    return -1;
}

#endif /* LOSSK_TEMPLATE_PASS */
