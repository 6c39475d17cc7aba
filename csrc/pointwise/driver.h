/*
 * The pointwise driver: losses whose every element has its own term,
 * loss_i = f(x_i, t_i, aux_i) * w_i with gradient g_i = f'(x_i, t_i, aux_i) * w_i.
 *
 * A loss supplies only f and f' (an inline per-element function) and
 * instantiates the block loop of driver_loop.h in its template pass;
 * lossk__run_pointwise (driver.c) validates, picks the threads and the
 * non-temporal stores, runs the blocks and reduces. Each block walks its
 * elements in chunks of at most EW_CHUNK; the vectorized loop writes the
 * chunk's losses and gradients to the outputs, or to per-thread L1 buffers
 * when the gradient overwrites the prediction (the loop must never alias
 * its inputs) or the outputs are streamed; the losses are then summed in
 * LOSSK_LANES double accumulators. Chunks and blocks depend on the sizes
 * only: the sums are bitwise identical for every thread count.
 */
#ifndef LOSSK_ELEMENTWISE_H
#define LOSSK_ELEMENTWISE_H

#define LOSSK_UNSTABLE_API   /* lossk_pointwise, the family entry */
#include "internal.h"

#define EW_MAX_PARAMS 10
/* Elements per chunk: the chunk's inputs and buffers stay in L1. */
#define EW_CHUNK 1024
/* Elements per block of the deterministic reduction (they depend on n only,
   never on the thread count). A thread's share is whole blocks, so blocks
   are small enough to split evenly; from EW_BIG_BLOCKS_FROM elements on,
   larger blocks split evenly too and cost less per block. */
#define EW_BLOCK_ELEMS 16384
#define EW_BIG_BLOCK_ELEMS 65536
#define EW_BIG_BLOCKS_FROM ((int64_t)1 << 22)

/* An operand broadcast over the elements of the prediction without being
   copied to its size: element i reads data[(i / inner) % period]. Same shape
   as the prediction: inner = 1, period >= n; a vector along the last
   dimension: inner = 1, period = its length; one value per row: inner = row
   length; a scalar: period = 1. data == NULL: absent. */
typedef struct ew_operand {
    const void *data;
    int64_t inner, period;
} ew_operand;

typedef struct ew_args {
    const void *x, *t;          /* prediction and target data (t: target.data) */
    int64_t n;
    ew_operand target;          /* the target, broadcast to x (full: inner 1, period n) */
    int target_full;            /* target has n elements of its own: read t + i directly */
    void *grad2;                /* receives -grad (margin ranking's x2) or NULL */
    ew_operand weight;          /* multiplies each loss and gradient (or absent) */
    ew_operand aux;             /* the loss's own extra operand (pos_weight) */
    double param[EW_MAX_PARAMS];/* the loss's scalar parameters */
    double grad_scale;          /* 1 / the reduction's divisor */
    void *loss_none;            /* per-element losses (reduction none) or NULL */
    void *grad;                 /* n gradients or NULL; may equal x */
    int nt;                     /* outputs written with non-temporal stores */
    int has_domain;             /* the loss checks its inputs (EW_CHECK) */
    int check_only;             /* blocks only look for elements outside the domain */
} ew_args;

/* Fills the common fields: a full target, no weight, no aux, parameters 0. */
void lossk__ew_init(ew_args *a, const void *x, const void *t, int64_t n,
                    void *loss_none, void *grad);

/* Runs `block` (an instantiation of driver_loop.h for the active SIMD
   level and the dtype of size `elem`) over the n elements. reduction NONE,
   MEAN (divides by n), SUM, or BATCHMEAN (divides by batch_size; only when
   batch_size >= 0). A block that meets an invalid element returns its
   position: *bad_index receives the first one and LOSSK_ERR_DOMAIN is
   returned. Outputs are then partly written, except when the gradient
   overwrites the prediction: then every element is checked before any is
   written, and the prediction stays as it was. */
lossk_status lossk__run_pointwise(ew_args *a, lossk_block_fn block, size_t elem,
                                    lossk_reduction reduction, int64_t batch_size,
                                    double *loss_out, int n_threads, int64_t *bad_index);

/* Chunk helpers of the block loop. ew_run_length shortens a chunk starting at
   element i to at most `len` elements so that `op` stays one run there;
   ew_operand_values returns the operand's values for those elements as a
   contiguous array (a pointer into op->data, or `buf`, 2 * EW_CHUNK elements). */
int64_t lossk__ew_run_length(const ew_operand *op, int64_t i, int64_t len);
const void *lossk__ew_operand_values(const ew_operand *op, size_t elem, int64_t i, int64_t len,
                                     void *buf);

/* A loss of the family entry lossk_pointwise (driver.c): its Python name, a
   setup that checks in->param, fills a->param and returns the block function
   of in->dtype (NULL: invalid options), what it takes, and optionally its own
   run (default: lossk__run_pointwise). Each family file lists its losses in a
   table ending with a NULL name, which driver.c searches. */
enum { EW_TAKES_WEIGHT = 1, EW_TAKES_AUX = 2, EW_TAKES_GRAD2 = 4 };
typedef struct ew_loss {
    const char *name;
    lossk_block_fn (*setup)(const lossk_pointwise_args *in, ew_args *a);
    unsigned takes;
    lossk_status (*run)(ew_args *a, lossk_block_fn block, lossk_pointwise_args *in);
} ew_loss;
extern const ew_loss lossk__ew_losses_regression[], lossk__ew_losses_ranking[], lossk__ew_losses_gan[];

/* The block function of a setup for in's dtype (name: EW_NAME of the loop). */
#define EW_BLOCK_OF(in, name) \
    ((in)->dtype == LOSSK_DTYPE_F32 ? LOSSK_SELECT(name##_block_f32) : LOSSK_SELECT(name##_block_f64))

#endif /* LOSSK_ELEMENTWISE_H */
