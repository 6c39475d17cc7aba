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
    if (work < LOSSK_PARALLEL_MIN_WORK) t = 1;
    if ((int64_t)t > n_blocks) t = n_blocks < 1 ? 1 : (int)n_blocks;
    return t;
#else
    (void)n_threads; (void)work; (void)n_blocks;
    return 1;
#endif
}

lossk_status lossk__run_blocks(int64_t n_items, int64_t block, int n_threads,
                               int n_acc, size_t scratch_bytes,
                               lossk_block_fn fn, const void *ctx,
                               double *out, int64_t *first_invalid) {
    for (int k = 0; k < n_acc; k++) out[k] = 0.0;
    if (first_invalid) *first_invalid = -1;
    if (n_items <= 0) return LOSSK_OK;
    if (block < 1) block = 1;
    const int64_t n_blocks = (n_items - 1) / block + 1;

    double stack_partials[LOSSK_STACK_PARTIALS];
    int64_t stack_invalid[LOSSK_STACK_PARTIALS / 2];
    double *partials = stack_partials;
    int64_t *invalid = stack_invalid;
    const int on_heap = n_blocks * (n_acc > 0 ? n_acc : 1) > LOSSK_STACK_PARTIALS ||
                        n_blocks > LOSSK_STACK_PARTIALS / 2;
    if (on_heap) {
        partials = (double *)malloc((size_t)n_blocks * (size_t)(n_acc > 0 ? n_acc : 1) * sizeof(double));
        invalid = (int64_t *)malloc((size_t)n_blocks * sizeof(int64_t));
        if (!partials || !invalid) { free(partials); free(invalid); return LOSSK_ERR_NO_MEMORY; }
    }

    int threads = n_threads;  /* already decided by the caller (lossk__threads_for) */
    if (threads < 1) threads = 1;
    if ((int64_t)threads > n_blocks) threads = (int)n_blocks;
    int alloc_failed = 0;

#ifdef _OPENMP
#pragma omp parallel num_threads(threads) if (threads > 1) reduction(| : alloc_failed)
#endif
    {
        void *scratch = scratch_bytes ? lossk__aligned_alloc(scratch_bytes) : NULL;
        if (scratch_bytes && !scratch) alloc_failed = 1;
        /* static schedule: thread t always gets the same contiguous blocks, so
           a block's cache lines stay with one core. */
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (int64_t b = 0; b < n_blocks; b++) {
            double *acc = partials + b * (n_acc > 0 ? n_acc : 1);
            for (int k = 0; k < n_acc; k++) acc[k] = 0.0;
            invalid[b] = -1;
            if (scratch_bytes && !scratch) continue;
            const int64_t begin = b * block;
            const int64_t end = begin + block < n_items ? begin + block : n_items;
            invalid[b] = fn(ctx, begin, end, acc, scratch);
        }
        lossk__aligned_free(scratch);
    }
    lossk_status status = alloc_failed ? LOSSK_ERR_NO_MEMORY : LOSSK_OK;
    if (status == LOSSK_OK) {
        for (int64_t b = 0; b < n_blocks; b++) {           /* fixed order */
            for (int k = 0; k < n_acc; k++) out[k] += partials[b * n_acc + k];
            if (first_invalid && *first_invalid < 0 && invalid[b] >= 0) *first_invalid = invalid[b];
        }
    }
    if (on_heap) { free(partials); free(invalid); }
    return status;
}
