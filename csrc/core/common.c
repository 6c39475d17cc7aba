/* The deterministic blocked parallel driver and the library-wide queries. */
#include <stdlib.h>

#include "internal.h"

#ifdef _OPENMP
#  include <omp.h>
#endif

#ifndef LOSSK_BUILD_INFO
#  define LOSSK_BUILD_INFO "unknown compiler flags"
#endif

/* Below this many element-operations a call runs on one thread: starting a
   parallel region (~1 us, more after idle) costs more than the work. */
#define LOSSK_PARALLEL_MIN_WORK ((int64_t)1 << 15)
/* Thread counts above max(this, CPUs) are lowered to it (lossk__threads_for). */
#define LOSSK_MAX_THREADS 256
/* Per-block partial sums live on the stack up to this many doubles. */
#define LOSSK_STACK_PARTIALS 256

unsigned lossk_version_number(void) { return LOSSK_VERSION_NUMBER; }
const char *lossk_version_string(void) { return LOSSK_VERSION_STRING; }
const char *lossk_build_info(void) { return LOSSK_BUILD_INFO; }

int lossk_has_openmp(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

int lossk_default_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

const char *lossk_status_string(lossk_status status) {
    switch (status) {
    case LOSSK_OK: return "success";
    case LOSSK_ERR_INVALID_ARGUMENT: return "invalid argument";
    case LOSSK_ERR_TARGET_RANGE: return "class index out of range";
    case LOSSK_ERR_NO_MEMORY: return "out of memory";
    case LOSSK_ERR_ALIASING: return "output overlaps an input";
    case LOSSK_ERR_DOMAIN: return "input value outside the loss's domain";
    }
    return "unknown status";
}

void *lossk__aligned_alloc(size_t bytes) {
    void *p = NULL;
    if (bytes == 0) bytes = 64;
    if (posix_memalign(&p, 64, bytes) != 0) return NULL;
    return p;
}

void lossk__aligned_free(void *p) { free(p); }

int lossk__threads_for(int n_threads, int64_t work, int64_t n_blocks) {
#ifdef _OPENMP
    int t = n_threads > 0 ? n_threads : omp_get_max_threads();
    if (t > LOSSK_MAX_THREADS) {
        /* libgomp exits the process when it cannot create a thread (~32k
           threads here): n_threads is an upper bound, and more threads than
           CPUs never pay for these kernels. */
        const int procs = omp_get_num_procs();
        const int cap = procs > LOSSK_MAX_THREADS ? procs : LOSSK_MAX_THREADS;
        if (t > cap) t = cap;
    }
    if (work < LOSSK_PARALLEL_MIN_WORK) t = 1;
    if ((int64_t)t > n_blocks) t = n_blocks < 1 ? 1 : (int)n_blocks;
    return t;
#else
    (void)n_threads; (void)work; (void)n_blocks;
    return 1;
#endif
}

/* The block sums recorded for the calling thread (lossk.h: lossk_block_sums). */
#if defined(_MSC_VER)
#  define LOSSK_THREAD_LOCAL __declspec(thread)
#else
#  define LOSSK_THREAD_LOCAL __thread
#endif
static LOSSK_THREAD_LOCAL int rec_on;
static LOSSK_THREAD_LOCAL double *rec_buf;
static LOSSK_THREAD_LOCAL int64_t rec_n = -1, rec_cap;

void lossk_block_sums_record(int on) {
    free(rec_buf);
    rec_buf = NULL;
    rec_n = -1;
    rec_cap = 0;
    rec_on = on != 0;
}

int64_t lossk_block_sums(double *out, int64_t cap) {
    for (int64_t b = 0; b < rec_n && b < cap; b++) out[b] = rec_buf[b];
    return rec_n;
}

/* Keeps one accumulator's block sums (a failed allocation records nothing: -1). */
static void record_blocks(const double *partials, int64_t n_blocks) {
    if (n_blocks > rec_cap) {
        free(rec_buf);
        rec_buf = (double *)malloc((size_t)n_blocks * sizeof(double));
        rec_cap = rec_buf ? n_blocks : 0;
        if (!rec_buf) { rec_n = -1; return; }
    }
    for (int64_t b = 0; b < n_blocks; b++) rec_buf[b] = partials[b];
    rec_n = n_blocks;
}

/* One block: zeroes its accumulators, runs fn, records its first invalid item. */
static void run_block(int64_t b, int64_t block, int64_t n_items, int n_acc, int acc_stride,
                      lossk_block_fn fn, const void *ctx, void *scratch,
                      double *partials, int64_t *invalid) {
    double *acc = partials + b * acc_stride;
    for (int k = 0; k < n_acc; k++) acc[k] = 0.0;
    const int64_t begin = b * block;
    const int64_t end = begin + block < n_items ? begin + block : n_items;
    invalid[b] = fn(ctx, begin, end, acc, scratch);
}

lossk_status lossk__run_blocks(int64_t n_items, int64_t block, int n_threads,
                               int n_acc, size_t scratch_bytes,
                               lossk_block_fn fn, const void *ctx,
                               double *out, int64_t *first_invalid) {
    for (int k = 0; k < n_acc; k++) out[k] = 0.0;
    if (first_invalid) *first_invalid = -1;
    if (n_items <= 0) {
        if (rec_on && n_acc == 1) rec_n = 0;
        return LOSSK_OK;
    }
    if (block < 1) block = 1;
    const int64_t n_blocks = (n_items - 1) / block + 1;
    const int acc_stride = n_acc > 0 ? n_acc : 1;

    double stack_partials[LOSSK_STACK_PARTIALS];
    int64_t stack_invalid[LOSSK_STACK_PARTIALS];
    double *partials = stack_partials;
    int64_t *invalid = stack_invalid;
    const int on_heap = n_blocks * acc_stride > LOSSK_STACK_PARTIALS;
    if (on_heap) {
        partials = (double *)malloc((size_t)n_blocks * (size_t)acc_stride * sizeof(double));
        invalid = (int64_t *)malloc((size_t)n_blocks * sizeof(int64_t));
        if (!partials || !invalid) { free(partials); free(invalid); return LOSSK_ERR_NO_MEMORY; }
    }

    int threads = n_threads;  /* decided by the caller (lossk__threads_for) */
    if (threads < 1) threads = 1;
    if ((int64_t)threads > n_blocks) threads = (int)n_blocks;
    int alloc_failed = 0;

    if (threads == 1) {
        /* no OpenMP runtime call at all: small calls would pay its futexes */
        void *scratch = scratch_bytes ? lossk__aligned_alloc(scratch_bytes) : NULL;
        if (scratch_bytes && !scratch) alloc_failed = 1;
        for (int64_t b = 0; b < n_blocks && !alloc_failed; b++)
            run_block(b, block, n_items, n_acc, acc_stride, fn, ctx, scratch, partials, invalid);
        lossk__aligned_free(scratch);
    } else {
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) reduction(| : alloc_failed)
#endif
        {
            void *scratch = scratch_bytes ? lossk__aligned_alloc(scratch_bytes) : NULL;
            if (scratch_bytes && !scratch) alloc_failed = 1;
            /* static schedule: a thread gets contiguous blocks, which stay in its caches */
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
            for (int64_t b = 0; b < n_blocks; b++) {
                if (scratch_bytes && !scratch) { invalid[b] = -1; continue; }
                run_block(b, block, n_items, n_acc, acc_stride, fn, ctx, scratch, partials, invalid);
            }
            lossk__aligned_free(scratch);
        }
    }
    lossk_status status = alloc_failed ? LOSSK_ERR_NO_MEMORY : LOSSK_OK;
    if (status == LOSSK_OK) {
        for (int64_t b = 0; b < n_blocks; b++) {           /* fixed order */
            for (int k = 0; k < n_acc; k++) out[k] += partials[b * acc_stride + k];
            if (first_invalid && *first_invalid < 0 && invalid[b] >= 0) *first_invalid = invalid[b];
        }
        if (rec_on && n_acc == 1) record_blocks(partials, n_blocks);
    }
    if (on_heap) { free(partials); free(invalid); }
    return status;
}

typedef struct class_target_args {
    const void *target; lossk_index_type type; int64_t c; int has_ignore; int64_t ignore_index;
    const void *weight; int weight_f64;
} class_target_args;

static int64_t class_target_block(const void *ctx, int64_t begin, int64_t end, double *acc, void *scratch) {
    const class_target_args *a = (const class_target_args *)ctx;
    (void)scratch;
    double total = 0.0;
    for (int64_t i = begin; i < end; i++) {
        int64_t y = lossk__load_index(a->target, a->type, i);
        if (a->has_ignore && y == a->ignore_index) continue;
        if (y < 0 || y >= a->c) return i;
        if (!a->weight) total += 1.0;
        else total += a->weight_f64 ? ((const double *)a->weight)[y] : (double)((const float *)a->weight)[y];
    }
    acc[0] = total;
    return -1;
}

lossk_status lossk__class_targets(const void *target, lossk_index_type type, int64_t samples,
                                  int64_t c, int has_ignore, int64_t ignore_index,
                                  const void *weight, int weight_f64, int n_threads,
                                  double *weight_sum, int64_t *bad_index) {
    const class_target_args ta = {target, type, c, has_ignore, ignore_index, weight, weight_f64};
    const int64_t block = 16384;
    const int64_t n_blocks = samples > 0 ? (samples - 1) / block + 1 : 0;
    int64_t first_bad = -1;
    lossk_status s = lossk__run_blocks(samples, block, lossk__threads_for(n_threads, samples, n_blocks),
                                       1, 0, class_target_block, &ta, weight_sum, &first_bad);
    if (s != LOSSK_OK) return s;
    if (first_bad >= 0) {
        if (bad_index) *bad_index = first_bad;
        return LOSSK_ERR_TARGET_RANGE;
    }
    return LOSSK_OK;
}

lossk_status lossk__check_class_args(int64_t n, int64_t c, int64_t inner, lossk_reduction reduction,
                                     const void *pred, lossk_index_type target_type,
                                     const double *loss_out, const void *loss_none) {
    /* inner is 0 when a spatial dimension is: an empty input like n == 0 */
    if (n < 0 || c < 0 || inner < 0 ||
        (reduction != LOSSK_REDUCTION_NONE && reduction != LOSSK_REDUCTION_MEAN &&
         reduction != LOSSK_REDUCTION_SUM) ||
        (target_type != LOSSK_INDEX_INT32 && target_type != LOSSK_INDEX_INT64))
        return LOSSK_ERR_INVALID_ARGUMENT;
    if ((inner > 0 && n > INT64_MAX / inner) || (c > 0 && n * inner > INT64_MAX / c))
        return LOSSK_ERR_INVALID_ARGUMENT;
    const int64_t samples = n * inner, elems = samples * c;
    if ((elems > 0 && !pred) ||
        (reduction == LOSSK_REDUCTION_NONE && samples > 0 && !loss_none) ||
        (reduction != LOSSK_REDUCTION_NONE && !loss_out))
        return LOSSK_ERR_INVALID_ARGUMENT;
    return LOSSK_OK;
}
