/* The pointwise driver (driver.h): argument checks, threads, reduction,
   and the broadcast operands' chunk values. */
#include "driver.h"

void lossk__ew_init(ew_args *a, const void *x, const void *t, int64_t n,
                    void *loss_none, void *grad) {
    memset(a, 0, sizeof *a);
    a->x = x;
    a->t = t;
    a->n = n;
    a->target.data = t;
    a->target.inner = 1;
    a->target.period = n > 0 ? n : 1;
    a->loss_none = loss_none;
    a->grad = grad;
}

/* Validates an operand and puts it in its simplest form: constant -> period 1. */
static int ew_operand_ok(ew_operand *op, int64_t n) {
    if (!op->data) return 1;
    if (op->inner < 1 || op->period < 1) return 0;
    if (op->inner >= n || op->period == 1) op->inner = op->period = 1;
    return 1;
}

lossk_status lossk__run_pointwise(ew_args *a, lossk_block_fn block, size_t elem,
                                    lossk_reduction reduction, int64_t batch_size,
                                    double *loss_out, int n_threads, int64_t *bad_index) {
    const int64_t n = a->n;
    if (bad_index) *bad_index = -1;
    double divisor;
    switch (reduction) {
    case LOSSK_REDUCTION_NONE:
    case LOSSK_REDUCTION_SUM: divisor = 1.0; break;
    case LOSSK_REDUCTION_MEAN: divisor = (double)n; break;
    case LOSSK_REDUCTION_BATCHMEAN:
        if (batch_size < 0) return LOSSK_ERR_INVALID_ARGUMENT;
        divisor = (double)batch_size;
        break;
    default: return LOSSK_ERR_INVALID_ARGUMENT;
    }
    if (n < 0 || n > INT64_MAX / 8 || (n > 0 && (!a->x || !a->target.data)) ||
        (reduction == LOSSK_REDUCTION_NONE ? n > 0 && !a->loss_none : !loss_out) ||
        !ew_operand_ok(&a->weight, n) || !ew_operand_ok(&a->aux, n) || !ew_operand_ok(&a->target, n))
        return LOSSK_ERR_INVALID_ARGUMENT;
    a->t = a->target.data;
    /* a target of n elements of its own is read in place (the fast path) */
    a->target_full = a->target.inner == 1 && a->target.period >= n;
    if (reduction != LOSSK_REDUCTION_NONE) a->loss_none = NULL;
    if (lossk__aliases(a->grad, a->t) || lossk__aliases(a->grad, a->weight.data) ||
        lossk__aliases(a->grad, a->aux.data) || lossk__aliases(a->loss_none, a->x) ||
        lossk__aliases(a->loss_none, a->t) || lossk__aliases(a->loss_none, a->grad) ||
        lossk__aliases(a->grad2, a->t) || lossk__aliases(a->grad2, a->x) ||
        lossk__aliases(a->grad2, a->grad) || lossk__aliases(a->loss_none, a->grad2))
        return LOSSK_ERR_ALIASING;
    a->grad_scale = 1.0 / divisor;
    /* Streaming pays only for whole cache lines: stream_copy stores a
       chunk's partial lines at either end normally and streams the whole
       ones, and the vector kernels' chunks start where the output is 64-byte
       aligned (NumPy's large arrays are 16-byte aligned), so the outputs need
       only whole elements and, when both are written, one offset within a
       cache line. The choice changes how results are stored, never their
       bits. */
    const uintptr_t gmis = (uintptr_t)a->grad, lmis = (uintptr_t)a->loss_none;
    a->nt = (a->grad || a->loss_none) && n * (int64_t)elem >= LOSSK_NT_STORE_MIN_BYTES &&
            ((gmis | lmis) & (elem - 1)) == 0 && (!a->grad || !a->loss_none || ((gmis ^ lmis) & 63u) == 0);

    const int64_t block_elems = n < EW_BIG_BLOCKS_FROM ? EW_BLOCK_ELEMS : EW_BIG_BLOCK_ELEMS;
    const int64_t n_blocks = n > 0 ? (n - 1) / block_elems + 1 : 0;
    double total = 0.0;
    int64_t first_bad = -1;
    const int threads = lossk__threads_for(n_threads, n, n_blocks);
    lossk_status s;
    if (a->has_domain && a->grad && a->grad == a->x) {
        /* In place, the domain is checked first (one more read of x and t):
           an error must not leave the caller's prediction half overwritten. */
        a->check_only = 1;
        s = lossk__run_blocks(n, block_elems, threads, 1, 5 * EW_CHUNK * elem, block, a, &total,
                              &first_bad);   /* scratch: a broadcast target's values */
        a->check_only = 0;
        if (s == LOSSK_OK && first_bad >= 0) {
            if (bad_index) *bad_index = first_bad;
            return LOSSK_ERR_DOMAIN;
        }
        if (s != LOSSK_OK) return s;
    }
    /* scratch: gradient, loss, weight, aux and target buffers of one chunk */
    s = lossk__run_blocks(n, block_elems, threads, 1, 5 * EW_CHUNK * elem, block, a, &total, &first_bad);
    if (s != LOSSK_OK) return s;
    if (first_bad >= 0) {
        if (bad_index) *bad_index = first_bad;
        return LOSSK_ERR_DOMAIN;
    }
    if (reduction != LOSSK_REDUCTION_NONE)
        *loss_out = reduction == LOSSK_REDUCTION_SUM ? total : total / divisor;  /* 0/0 = NaN as torch */
    return LOSSK_OK;
}

int64_t lossk__ew_run_length(const ew_operand *op, int64_t i, int64_t len) {
    int64_t run = len;
    if (!op->data || op->period == 1) return len;
    if (op->inner == 1 && op->period >= EW_CHUNK) run = op->period - i % op->period;
    else if (op->inner >= EW_CHUNK) run = op->inner - i % op->inner;
    return run < len ? run : len;
}

static void ew_fill(void *buf, size_t elem, const char *value, int64_t len) {
    if (elem == sizeof(float)) {
        float v, *b = (float *)buf;
        memcpy(&v, value, sizeof v);
        for (int64_t k = 0; k < len; k++) b[k] = v;
    } else {
        double v, *b = (double *)buf;
        memcpy(&v, value, sizeof v);
        for (int64_t k = 0; k < len; k++) b[k] = v;
    }
}

const void *lossk__ew_operand_values(const ew_operand *op, size_t elem, int64_t i, int64_t len,
                                     void *buf) {
    const char *data = (const char *)op->data;
    char *out = (char *)buf;
    if (op->period == 1) {
        ew_fill(buf, elem, data, len);
    } else if (op->inner == 1) {
        const int64_t j0 = i % op->period;
        if (op->period >= EW_CHUNK) return data + (size_t)j0 * elem;  /* one run (ew_run_length) */
        /* short period: one period from j0, then doubled until len */
        int64_t head = op->period - j0 < len ? op->period - j0 : len;
        memcpy(out, data + (size_t)j0 * elem, (size_t)head * elem);
        int64_t filled = head;
        if (filled < len) {
            int64_t wrap = j0 < len - filled ? j0 : len - filled;
            memcpy(out + (size_t)filled * elem, data, (size_t)wrap * elem);
            filled += wrap;
        }
        while (filled < len) {
            int64_t more = filled < len - filled ? filled : len - filled;
            memcpy(out + (size_t)filled * elem, out, (size_t)more * elem);
            filled += more;
        }
    } else {
        /* runs of `inner` equal values */
        int64_t v = (i / op->inner) % op->period, r = i % op->inner;
        for (int64_t k = 0; k < len;) {
            int64_t run = op->inner - r < len - k ? op->inner - r : len - k;
            ew_fill(out + (size_t)k * elem, elem, data + (size_t)v * elem, run);
            k += run;
            r = 0;
            v = v + 1 == op->period ? 0 : v + 1;
        }
    }
    return buf;
}

/* ---- the family entry ------------------------------------------------------ */

static const ew_loss *const ew_tables[] = {lossk__ew_losses_regression, lossk__ew_losses_ranking,
                                           lossk__ew_losses_gan};

static const ew_loss *ew_find(const char *name) {
    for (size_t k = 0; k < sizeof ew_tables / sizeof ew_tables[0]; k++)
        for (const ew_loss *l = ew_tables[k]; l->name; l++)
            if (strcmp(l->name, name) == 0) return l;
    return NULL;
}

static void ew_operand_from(ew_operand *op, const lossk_operand *in) {
    op->data = in->data;
    op->inner = in->inner;
    op->period = in->period;
}

lossk_status lossk_pointwise(const char *loss, lossk_pointwise_args *in) {
    /* every field of this version must be there: none has a default yet */
    if (!loss || !in || in->size < sizeof(lossk_pointwise_args)) return LOSSK_ERR_INVALID_ARGUMENT;
    in->bad_index = -1;
    const ew_loss *l = ew_find(loss);
    if (!l || (in->dtype != LOSSK_DTYPE_F32 && in->dtype != LOSSK_DTYPE_F64) ||
        (in->weight.data && !(l->takes & EW_TAKES_WEIGHT)) ||
        (in->aux.data && !(l->takes & EW_TAKES_AUX)) || (in->grad2 && (!in->grad || !(l->takes & EW_TAKES_GRAD2))))
        return LOSSK_ERR_INVALID_ARGUMENT;
    ew_args a;
    lossk__ew_init(&a, in->pred, NULL, in->n, in->loss_none, in->grad);
    ew_operand_from(&a.target, &in->target);
    ew_operand_from(&a.weight, &in->weight);
    ew_operand_from(&a.aux, &in->aux);
    a.grad2 = in->grad2;
    const lossk_block_fn block = l->setup(in, &a);
    if (!block) return LOSSK_ERR_INVALID_ARGUMENT;
    if (l->run) return l->run(&a, block, in);
    return lossk__run_pointwise(&a, block, in->dtype == LOSSK_DTYPE_F32 ? sizeof(float) : sizeof(double),
                                in->reduction, in->batch_size, in->loss_out, in->n_threads, &in->bad_index);
}
