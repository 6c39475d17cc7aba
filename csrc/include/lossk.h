/*
 * lossk.h - the public C interface of lossk: fused loss + gradient kernels.
 *
 * Conventions shared by every kernel:
 *  - Arrays are C-contiguous; sizes and indices are int64_t.
 *  - A kernel computes the loss and, when `grad` is not NULL, its gradient in
 *    the same pass. `grad` may alias the prediction (in-place gradient).
 *  - `reduction` selects what `loss_out` (one double) receives; for
 *    LOSSK_REDUCTION_NONE the per-sample losses go to `loss_none` instead.
 *    The gradient is d(returned loss)/d(pred); for NONE, d(sum of losses)/d(pred).
 *  - Sums are accumulated in double in fixed-size blocks combined in a fixed
 *    order: results are bitwise identical for every `n_threads`.
 *  - `n_threads` <= 0 means the OpenMP default. No global mutable state: every
 *    kernel may be called from several threads at once.
 *  - Every call returns a lossk_status; nothing is written to stderr.
 *
 * The order of an entry's arguments (every entry follows it):
 *   1. the inputs, predictions first, then targets, each followed by its sizes
 *      (and, for class indices, their lossk_index_type);
 *   2. the options: per-class arrays first (class_weight, alpha), then the
 *      scalar options in the order of the Python signature;
 *   3. reduction, loss_out, loss_none (and `upstream`, below);
 *   4. the gradients, one per differentiable input in argument order; each may
 *      be NULL (not wanted: no gradient work) or equal its own input (in place);
 *   5. n_threads; then bad_index where an input value can be rejected.
 * What the later families need, settled here:
 *  - Several differentiable inputs (triplet, margin ranking, GAN
 *    discriminators, contrastive, CRF, linear cross-entropy): one gradient
 *    pointer per input, in argument order (Python returns them as a tuple in
 *    the same order).
 *  - No target (penalties): the entry has no target argument. An output that
 *    is not a loss (Viterbi paths): no reduction, no gradient; its outputs
 *    (int64_t paths and lengths) take the place of loss_out.
 *  - Upstream weights: where one sample's loss depends on other samples'
 *    inputs (NT-Xent, InfoNCE with in-batch negatives, Dice over a batch), the
 *    gradient of a weighted sum of the per-sample losses is not the per-sample
 *    gradients scaled. Such entries take `const double *upstream` after
 *    loss_none: with LOSSK_REDUCTION_NONE and upstream not NULL, the gradients
 *    are d(sum_i upstream[i] loss_i)/d(input); NULL means all 1. Losses whose
 *    samples are independent have no such argument: a caller scales each
 *    sample's gradient rows itself.
 *  - Many options: a family whose options would not fit a short signature
 *    takes `const lossk_<family>_options *`, a struct whose first field
 *    `size_t size` is sizeof the caller's struct: fields are only ever
 *    appended, and a field beyond `size` takes its documented default, so a
 *    program built against an older header keeps working (zstd's convention).
 *  - Family entries: a family whose losses share one driver has one entry
 *    taking the loss's name (its name in Python: "mse_loss") and a
 *    lossk_dtype with untyped data pointers, so that a new loss of the family
 *    needs no new prototype. Declarations between `#ifdef LOSSK_UNSTABLE_API`
 *    and its `#endif` may still change between minor versions: define the
 *    macro before including this header to use them.
 */
#ifndef LOSSK_H
#define LOSSK_H

#include <stddef.h>
#include <stdint.h>

#define LOSSK_VERSION_MAJOR 0
#define LOSSK_VERSION_MINOR 1
#define LOSSK_VERSION_RELEASE 0
#define LOSSK_VERSION_NUMBER \
    (LOSSK_VERSION_MAJOR * 10000 + LOSSK_VERSION_MINOR * 100 + LOSSK_VERSION_RELEASE)
#define LOSSK_VERSION_STRING "0.1.0"

#if defined(_WIN32) && defined(LOSSK_BUILDING_SHARED)
#  define LOSSK_API __declspec(dllexport)
#elif defined(_WIN32) && defined(LOSSK_USING_SHARED)
#  define LOSSK_API __declspec(dllimport)
#elif defined(__GNUC__)
#  define LOSSK_API __attribute__((visibility("default")))
#else
#  define LOSSK_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. The numbers are ABI: append only. */
typedef enum lossk_status {
    LOSSK_OK = 0,
    LOSSK_ERR_INVALID_ARGUMENT = 1, /* a size, pointer or option is invalid */
    LOSSK_ERR_TARGET_RANGE = 2,     /* a class index is outside [0, C) and not ignore_index */
    LOSSK_ERR_NO_MEMORY = 3,        /* a small internal allocation failed */
    LOSSK_ERR_ALIASING = 4,         /* an output is the same array as an input it must not alias
                                       (only the exact same pointer is detected) */
    LOSSK_ERR_DOMAIN = 5            /* an input value is outside the loss's domain (a probability
                                       outside [0, 1], a label not in {-1, 0, 1}) */
} lossk_status;

typedef enum lossk_reduction {
    LOSSK_REDUCTION_NONE = 0,
    LOSSK_REDUCTION_MEAN = 1,
    LOSSK_REDUCTION_SUM = 2,
    LOSSK_REDUCTION_BATCHMEAN = 3,  /* kl_div only: the sum divided by the batch size */
    LOSSK_REDUCTION_TOKEN_MEAN = 4  /* crf_nll_loss only: the sum divided by the unmasked steps */
} lossk_reduction;

/* Element type of the float arrays of a family entry (the typed entries' _f32, _f64). */
typedef enum lossk_dtype {
    LOSSK_DTYPE_F32 = 0,
    LOSSK_DTYPE_F64 = 1
} lossk_dtype;

/* An input broadcast over the n elements of a prediction without being
   expanded: element i reads data[(i / inner) % period] (of the entry's
   dtype). Same shape as the prediction: inner = 1, period = n; a vector along
   the last dimension of length C: inner = 1, period = C; one value per row of
   C elements: inner = C, period = n / C; a scalar: inner = period = 1.
   data NULL: absent (an optional operand then counts as 1). */
typedef struct lossk_operand {
    const void *data;
    int64_t inner, period;
} lossk_operand;

/* Element type of class-index arrays (read as they are: no conversion copy). */
typedef enum lossk_index_type {
    LOSSK_INDEX_INT32 = 0,
    LOSSK_INDEX_INT64 = 1
} lossk_index_type;

/* SIMD levels the kernels are compiled for; one is chosen at run time. */
typedef enum lossk_simd_level {
    LOSSK_SIMD_BASELINE = 0, /* the compiler's default target (x86-64: SSE2) */
    LOSSK_SIMD_AVX2 = 1,     /* AVX2 + FMA */
    LOSSK_SIMD_AVX512 = 2    /* AVX-512 F/DQ/BW/VL */
} lossk_simd_level;

/* Version of the library actually loaded (compare with LOSSK_VERSION_NUMBER). */
LOSSK_API unsigned lossk_version_number(void);
LOSSK_API const char *lossk_version_string(void);
/* A static English description of a status code. */
LOSSK_API const char *lossk_status_string(lossk_status status);
/* 1 when built with OpenMP, else 0 (every kernel then runs serially). */
LOSSK_API int lossk_has_openmp(void);
/* Default thread count (omp_get_max_threads(), or 1 without OpenMP). */
LOSSK_API int lossk_default_threads(void);
/* The SIMD level used by the kernels: the best the CPU supports among those
   compiled in, unless the environment variable LOSSK_SIMD (baseline, avx2,
   avx512) asks for a lower one. Read once, at the first call. */
LOSSK_API lossk_simd_level lossk_simd_level_active(void);
/* The best SIMD level compiled into this build. */
LOSSK_API lossk_simd_level lossk_simd_level_compiled(void);
LOSSK_API const char *lossk_simd_level_name(lossk_simd_level level);
/* Compiler and flags the library was built with. */
LOSSK_API const char *lossk_build_info(void);

/*
 * Softmax cross-entropy with class-index targets (= torch cross_entropy).
 *
 * logits: n x c x inner (inner = product of the spatial dims: 1 for (n, c), 0 if one is 0).
 * target: n x inner class indices of `target_type`.
 * class_weight: c weights or NULL (all 1).
 * loss_n = (1 - eps) * w[t] * (lse - x[t]) + (eps / c) * sum_k w[k] * (lse - x[k]),
 * lse = log(sum_k exp(x[k])), eps = label_smoothing; samples whose target is
 * ignore_index have loss 0 and gradient 0.
 * MEAN divides the sum by sum of w[t] over the non-ignored samples (NaN when
 * that is 0, as torch). On LOSSK_ERR_TARGET_RANGE, *bad_index (if not NULL)
 * receives the flat position of the first invalid target and nothing else is
 * written.
 * grad (n x c x inner) may be NULL (no gradient work) or equal to logits.
 */
LOSSK_API lossk_status lossk_cross_entropy_f32(
    const float *logits, int64_t n, int64_t c, int64_t inner,
    const void *target, lossk_index_type target_type,
    const float *class_weight, int64_t ignore_index, double label_smoothing,
    lossk_reduction reduction, double *loss_out, float *loss_none, float *grad,
    int n_threads, int64_t *bad_index);
LOSSK_API lossk_status lossk_cross_entropy_f64(
    const double *logits, int64_t n, int64_t c, int64_t inner,
    const void *target, lossk_index_type target_type,
    const double *class_weight, int64_t ignore_index, double label_smoothing,
    lossk_reduction reduction, double *loss_out, double *loss_none, double *grad,
    int n_threads, int64_t *bad_index);

/*
 * Softmax cross-entropy with probability targets (soft labels), same layout.
 * target_probs: n x c x inner; smoothed as t' = t (1 - eps) + eps / c.
 * loss_n = sum_k w[k] t'[k] (lse - x[k]); MEAN divides by n * inner (torch).
 */
LOSSK_API lossk_status lossk_cross_entropy_soft_f32(
    const float *logits, int64_t n, int64_t c, int64_t inner,
    const float *target_probs, const float *class_weight, double label_smoothing,
    lossk_reduction reduction, double *loss_out, float *loss_none, float *grad,
    int n_threads);
LOSSK_API lossk_status lossk_cross_entropy_soft_f64(
    const double *logits, int64_t n, int64_t c, int64_t inner,
    const double *target_probs, const double *class_weight, double label_smoothing,
    lossk_reduction reduction, double *loss_out, double *loss_none, double *grad,
    int n_threads);

/*
 * Softmax focal loss with class-index targets, same layout and targets as
 * lossk_cross_entropy_*. With p = softmax over the classes, t the target,
 * q = 1 - p[t] and alpha (c per-class weights, or NULL: all 1):
 * loss_n = -alpha[t] q^gamma log p[t]; ignore_index samples give 0.
 * dloss/dx[k] = alpha[t] q^gamma (1 + gamma p[t] (-log p[t]) / q) (p[k] - [k=t]),
 * computed without 0 * inf as p[t] -> 1. MEAN divides by the sum of alpha[t]
 * over the non-ignored samples (NaN when that is 0). gamma = 0 gives exactly
 * the numbers of lossk_cross_entropy_* with class_weight = alpha.
 * gamma must be finite and >= 0.
 */
LOSSK_API lossk_status lossk_softmax_focal_loss_f32(
    const float *logits, int64_t n, int64_t c, int64_t inner,
    const void *target, lossk_index_type target_type,
    const float *alpha, double gamma, int64_t ignore_index,
    lossk_reduction reduction, double *loss_out, float *loss_none, float *grad,
    int n_threads, int64_t *bad_index);
LOSSK_API lossk_status lossk_softmax_focal_loss_f64(
    const double *logits, int64_t n, int64_t c, int64_t inner,
    const void *target, lossk_index_type target_type,
    const double *alpha, double gamma, int64_t ignore_index,
    lossk_reduction reduction, double *loss_out, double *loss_none, double *grad,
    int n_threads, int64_t *bad_index);

#ifdef LOSSK_UNSTABLE_API
/* The arguments of the softmax and class-index family entries: the layout and
   targets of lossk_cross_entropy_* and the options of each loss. */
typedef struct lossk_class_args {
    size_t size;                  /* sizeof(lossk_class_args): fields are only appended */
    lossk_dtype dtype;
    const void *pred;             /* n x c x inner (multi_margin_loss: inner = 1) */
    int64_t n, c, inner;
    const void *target;           /* n x inner class indices of target_type */
    lossk_index_type target_type;
    int soft_target;              /* cross_entropy: target_probs holds probabilities instead */
    const void *target_probs;     /* n x c x inner */
    const void *class_weight;     /* c weights (softmax_focal_loss: alpha), or NULL */
    int64_t ignore_index;         /* not multi_margin_loss */
    double label_smoothing;       /* cross_entropy */
    double gamma;                 /* softmax_focal_loss */
    int p;                        /* multi_margin_loss: 1 or 2 */
    double margin;                /* multi_margin_loss */
    lossk_reduction reduction;
    double *loss_out;
    void *loss_none, *grad;
    int n_threads;
    int64_t bad_index;            /* out: LOSSK_ERR_TARGET_RANGE's flat position */
} lossk_class_args;
/* The softmax family: "cross_entropy", "softmax_focal_loss". */
LOSSK_API lossk_status lossk_softmax_loss(const char *loss, lossk_class_args *args);
/* The class-index family: "nll_loss", "multi_margin_loss". */
LOSSK_API lossk_status lossk_class_index_loss(const char *loss, lossk_class_args *args);
#endif

/*
 * Negative log-likelihood of log-probabilities (= torch nll_loss), same
 * layout and targets as lossk_cross_entropy_*:
 * loss_n = -w[t] x[t] (0 for ignore_index samples); MEAN divides by the sum
 * of w[t] over the non-ignored samples (NaN when that is 0).
 * The gradient is -w[t] / denominator (MEAN) or -w[t] at the target, 0
 * elsewhere; every element of grad is written.
 */
LOSSK_API lossk_status lossk_nll_loss_f32(
    const float *log_probs, int64_t n, int64_t c, int64_t inner,
    const void *target, lossk_index_type target_type,
    const float *class_weight, int64_t ignore_index,
    lossk_reduction reduction, double *loss_out, float *loss_none, float *grad,
    int n_threads, int64_t *bad_index);
LOSSK_API lossk_status lossk_nll_loss_f64(
    const double *log_probs, int64_t n, int64_t c, int64_t inner,
    const void *target, lossk_index_type target_type,
    const double *class_weight, int64_t ignore_index,
    lossk_reduction reduction, double *loss_out, double *loss_none, double *grad,
    int n_threads, int64_t *bad_index);

/*
 * Multi-class margin loss (= torch multi_margin_loss). scores: n x c,
 * target: n class indices in [0, c) (no ignore index), p = 1 or 2:
 * loss_n = (1/c) sum_{i != t} w[t] max(0, margin - x[t] + x[i])^p
 * (w = class_weight, or 1 when NULL). max is IEEE maxNum, as torch's z > 0
 * test: a NaN term counts 0. The gradient is 0 where the term's base is <= 0.
 * MEAN divides by n (not by the weights, as torch).
 */
LOSSK_API lossk_status lossk_multi_margin_loss_f32(
    const float *scores, int64_t n, int64_t c,
    const void *target, lossk_index_type target_type,
    const float *class_weight, int p, double margin,
    lossk_reduction reduction, double *loss_out, float *loss_none, float *grad,
    int n_threads, int64_t *bad_index);
LOSSK_API lossk_status lossk_multi_margin_loss_f64(
    const double *scores, int64_t n, int64_t c,
    const void *target, lossk_index_type target_type,
    const double *class_weight, int p, double margin,
    lossk_reduction reduction, double *loss_out, double *loss_none, double *grad,
    int n_threads, int64_t *bad_index);

/*
 * Elementwise classification losses. pred and target hold n elements each
 * (any shape, C order); every element has its own loss term and gradient.
 * MEAN divides the sum by n (torch: not by the weights), 0/0 = NaN for n = 0.
 * grad may be NULL (no gradient work) or equal to pred; otherwise the outputs
 * (grad, loss_none) must not overlap the inputs.
 *
 * Broadcast operands (weight, pos_weight) are not expanded to n elements:
 * element i reads data[(i / inner) % period]. Same shape as pred: inner = 1,
 * period = n; a vector along the last dimension (length C): inner = 1,
 * period = C; one value per row of C elements: inner = C, period = n / C;
 * a scalar: period = 1. data NULL: absent (1).
 */

/*
 * Sigmoid focal loss (= torchvision.ops.sigmoid_focal_loss), x logits, t targets:
 *   p = sigmoid(x), p_t = p t + (1 - p)(1 - t), alpha_t = alpha t + (1 - alpha)(1 - t),
 *   loss = alpha_t * bce_with_logits(x, t) * (1 - p_t)^gamma.
 * alpha < 0 disables alpha_t (1); alpha must be <= 1 and gamma finite and >= 0
 * (else LOSSK_ERR_INVALID_ARGUMENT). Loss and gradient are finite for every
 * finite x and every gamma >= 0; at x = +-inf the loss is 0 or inf and the
 * gradient finite: (1 - p_t)^gamma is a product for integer gamma <= 16, else
 * exp(gamma log(1 - p_t)) with the log taken without cancellation, and the
 * derivative's (1 - p_t)^(gamma - 1), infinite for gamma < 1 at saturated
 * logits, is multiplied out analytically, never formed.
 */
LOSSK_API lossk_status lossk_sigmoid_focal_loss_f32(
    const float *logits, const float *target, int64_t n, double alpha, double gamma,
    lossk_reduction reduction, double *loss_out, float *loss_none, float *grad, int n_threads);
LOSSK_API lossk_status lossk_sigmoid_focal_loss_f64(
    const double *logits, const double *target, int64_t n, double alpha, double gamma,
    lossk_reduction reduction, double *loss_out, double *loss_none, double *grad, int n_threads);

/*
 * Binary cross-entropy on probabilities (= torch binary_cross_entropy):
 *   loss = -w (t max(log p, -100) + (1 - t) max(log(1 - p), -100)),
 *   gradient w (p - t) / max(p (1 - p), eps) (torch's formula; eps = 1e-12 rounded to float).
 * p and t must lie in [0, 1] (NaN propagates): else LOSSK_ERR_DOMAIN with the
 * flat position of the first offending element in *bad_index. The outputs
 * are then partly written, except in place (grad == probs): then every
 * element is checked before any is written, and probs is left as it was.
 */
LOSSK_API lossk_status lossk_binary_cross_entropy_f32(
    const float *probs, const float *target, int64_t n,
    const float *weight, int64_t weight_inner, int64_t weight_period,
    lossk_reduction reduction, double *loss_out, float *loss_none, float *grad,
    int n_threads, int64_t *bad_index);
LOSSK_API lossk_status lossk_binary_cross_entropy_f64(
    const double *probs, const double *target, int64_t n,
    const double *weight, int64_t weight_inner, int64_t weight_period,
    lossk_reduction reduction, double *loss_out, double *loss_none, double *grad,
    int n_threads, int64_t *bad_index);

/*
 * Binary cross-entropy on logits (= torch binary_cross_entropy_with_logits):
 *   loss = w ((1 - t) softplus(x) + pw t softplus(-x)),  gradient w ((1 - t) sigmoid(x) - pw t sigmoid(-x)),
 * softplus(x) = max(x, 0) + log1p(exp(-|x|)): no overflow nor cancellation
 * for any x; at x = +-inf the loss is 0 or inf and the gradient finite.
 * pw = pos_weight (a broadcast operand, typically one per class along the
 * last dimension).
 */
LOSSK_API lossk_status lossk_binary_cross_entropy_with_logits_f32(
    const float *logits, const float *target, int64_t n,
    const float *weight, int64_t weight_inner, int64_t weight_period,
    const float *pos_weight, int64_t pos_weight_inner, int64_t pos_weight_period,
    lossk_reduction reduction, double *loss_out, float *loss_none, float *grad, int n_threads);
LOSSK_API lossk_status lossk_binary_cross_entropy_with_logits_f64(
    const double *logits, const double *target, int64_t n,
    const double *weight, int64_t weight_inner, int64_t weight_period,
    const double *pos_weight, int64_t pos_weight_inner, int64_t pos_weight_period,
    lossk_reduction reduction, double *loss_out, double *loss_none, double *grad, int n_threads);

/*
 * Binary hinge loss: y = +1 where t = 1, -1 where t is 0 or -1,
 *   loss = max(0, margin - y x) (squared: its square), gradient -y (squared:
 *   -2 y max(0, margin - y x)), 0 where margin - y x <= 0.
 * t must be -1, 0 or 1: else LOSSK_ERR_DOMAIN with the position in *bad_index
 * (in place, grad == scores, before anything is written; else the outputs
 * are then partly written).
 */
LOSSK_API lossk_status lossk_hinge_loss_f32(
    const float *scores, const float *target, int64_t n, double margin, int squared,
    lossk_reduction reduction, double *loss_out, float *loss_none, float *grad,
    int n_threads, int64_t *bad_index);
LOSSK_API lossk_status lossk_hinge_loss_f64(
    const double *scores, const double *target, int64_t n, double margin, int squared,
    lossk_reduction reduction, double *loss_out, double *loss_none, double *grad,
    int n_threads, int64_t *bad_index);

/*
 * Kullback-Leibler divergence (= torch kl_div), x = log-probabilities:
 *   loss = t log t - t x (0 where t = 0, as torch's xlogy), gradient -t;
 *   log_target: loss = exp(t) (t - x), gradient -exp(t).
 * MEAN divides by n (every element, as torch); BATCHMEAN by batch_size (the
 * first dimension; 1 for a 0-d input, as torch).
 */
LOSSK_API lossk_status lossk_kl_div_f32(
    const float *log_input, const float *target, int64_t n, int64_t batch_size, int log_target,
    lossk_reduction reduction, double *loss_out, float *loss_none, float *grad, int n_threads);
LOSSK_API lossk_status lossk_kl_div_f64(
    const double *log_input, const double *target, int64_t n, int64_t batch_size, int log_target,
    lossk_reduction reduction, double *loss_out, double *loss_none, double *grad, int n_threads);


#ifdef LOSSK_UNSTABLE_API
/*
 * The pointwise family entry: one call for the losses whose elements each
 * have their own term, the loss named as in Python, arrays untyped of
 * `dtype`. A loss added to the family needs no new prototype. It knows
 * mse_loss, l1_loss, huber_loss, smooth_l1_loss, rmse_loss, log_cosh_loss,
 * quantile_loss, margin_ranking_loss, and the GAN losses
 * lsgan_discriminator_loss, lsgan_generator_loss, wasserstein_discriminator_loss
 * and wasserstein_generator_loss, one input per call (the classification losses above
 * keep their typed entries); an unknown name is LOSSK_ERR_INVALID_ARGUMENT.
 *   size       sizeof(lossk_pointwise_args) as the caller compiled it (fields
 *              are only appended; one beyond `size` takes its default)
 *   pred       n elements (x1 for margin_ranking_loss)
 *   target     broadcast to pred (lossk_operand; same shape: inner 1, period n)
 *   weight     unused by these losses (data NULL)
 *   aux        margin_ranking_loss's x2, broadcast to pred, else data NULL
 *   param      the scalar options in the order of the Python signature:
 *              huber_loss delta (finite, > 0), smooth_l1_loss beta (finite,
 *              >= 0), quantile_loss q (in [0, 1]), margin_ranking_loss margin
 *              (finite) and, if param[1] < 0, x1 and x2 swapped (pred x2, aux
 *              x1, grad2 d loss / d x1); out of range: LOSSK_ERR_INVALID_ARGUMENT
 *   batch_size unused by these losses
 *   grad       d loss / d pred, or NULL; may equal pred
 *   grad2      margin_ranking_loss: d loss / d x2 (= -grad), or NULL; needs grad
 *   bad_index  out: the first element outside the loss's domain (-1 if none):
 *              margin_ranking_loss's y must be -1 or 1 (LOSSK_ERR_DOMAIN)
 * e = pred - target: mse e^2; l1 |e| (gradient sign(e), 0 at 0); huber and
 * smooth_l1 as torch; log_cosh |e| + log1p(exp(-2|e|)) - log 2 (gradient
 * tanh(e)); quantile max(q r, (q - 1) r), r = -e (gradient 1/2 - q at r = 0);
 * margin_ranking max(0, margin - y (x1 - x2)) (gradient -y where that is >= 0).
 * GAN losses, target a scalar: lsgan_* (x - t)^2 / 2 (gradient x - t), t the
 * input's label; wasserstein_* t x (gradient t), t the input's sign (+1 for
 * d_fake in the critic, -1 for d_real and for the generator). A discriminator
 * is one call per input, each "mean" over its own n, the losses added.
 * rmse_loss = sqrt(mean(e^2)) takes MEAN only; its gradient is e / (n rmse),
 * 0 where rmse = 0 (two passes: the sum, then the gradient).
 */
typedef struct lossk_pointwise_args {
    size_t size;
    lossk_dtype dtype;
    const void *pred;
    int64_t n;
    lossk_operand target;
    lossk_operand weight, aux;
    double param[8];
    int64_t batch_size;
    lossk_reduction reduction;
    double *loss_out;
    void *loss_none;
    void *grad;
    void *grad2;
    int n_threads;
    int64_t bad_index;
} lossk_pointwise_args;

LOSSK_API lossk_status lossk_pointwise(const char *loss, lossk_pointwise_args *args);
#endif /* LOSSK_UNSTABLE_API */


/*
 * The IoU family of box-regression losses. pred and target: n boxes of 4
 * values in `format`; the gradient (n x 4, may be NULL or equal pred) is
 * w.r.t. pred in that same format. Per pair, in corners (x1, y1, x2, y2):
 *   w, h the sizes; I = iw ih where the intersection extents iw, ih are both
 *   > 0, else 0; U = w h + wg hg - I; IoU = I / (U + eps);
 *   cw, ch the size of the smallest enclosing box; rho^2 = dx^2 + dy^2 the
 *   squared distance of the centres.
 * MEAN divides by n (the mean of no boxes is 0, as torchvision). Values and
 * gradients are finite for every finite input (zero-size, identical,
 * coincident, inverted boxes): where torch would divide by zero, the
 * reciprocal is taken as 0 (see the per-loss notes). Subgradients are torch
 * autograd's through the torchvision formulas (max/min ties share 1/2).
 */
typedef enum lossk_box_format {
    LOSSK_BOX_XYXY = 0,   /* x1, y1, x2, y2 */
    LOSSK_BOX_XYWH = 1,   /* x1, y1, w, h */
    LOSSK_BOX_CXCYWH = 2  /* centre x, centre y, w, h */
} lossk_box_format;

/* 1 - IoU. */
LOSSK_API lossk_status lossk_iou_loss_f32(
    const float *pred, const float *target, int64_t n, lossk_box_format format, double eps,
    lossk_reduction reduction, double *loss_out, float *loss_none, float *grad, int n_threads);
LOSSK_API lossk_status lossk_iou_loss_f64(
    const double *pred, const double *target, int64_t n, lossk_box_format format, double eps,
    lossk_reduction reduction, double *loss_out, double *loss_none, double *grad, int n_threads);

/* GIoU (= torchvision generalized_box_iou_loss): 1 - IoU + (C - U)/(C + eps),
   C = cw ch. */
LOSSK_API lossk_status lossk_giou_loss_f32(
    const float *pred, const float *target, int64_t n, lossk_box_format format, double eps,
    lossk_reduction reduction, double *loss_out, float *loss_none, float *grad, int n_threads);
LOSSK_API lossk_status lossk_giou_loss_f64(
    const double *pred, const double *target, int64_t n, lossk_box_format format, double eps,
    lossk_reduction reduction, double *loss_out, double *loss_none, double *grad, int n_threads);

/* DIoU (= torchvision distance_box_iou_loss): 1 - IoU + rho^2/(cw^2 + ch^2 + eps). */
LOSSK_API lossk_status lossk_diou_loss_f32(
    const float *pred, const float *target, int64_t n, lossk_box_format format, double eps,
    lossk_reduction reduction, double *loss_out, float *loss_none, float *grad, int n_threads);
LOSSK_API lossk_status lossk_diou_loss_f64(
    const double *pred, const double *target, int64_t n, lossk_box_format format, double eps,
    lossk_reduction reduction, double *loss_out, double *loss_none, double *grad, int n_threads);

/* CIoU's trade-off weight alpha (a constant for the gradient in both). */
typedef enum lossk_ciou_alpha {
    LOSSK_CIOU_ALPHA_TORCHVISION = 0, /* v / (1 - IoU + v + eps) */
    LOSSK_CIOU_ALPHA_YOLO = 1         /* v / (v - IoU + (1 + eps)), YOLOv5 / ultralytics */
} lossk_ciou_alpha;

/* CIoU (= torchvision complete_box_iou_loss): DIoU + alpha v,
   v = 4/pi^2 (atan(wg/hg) - atan(w/h))^2. A box with w = h = 0 has
   atan(w/h) = 0 and no gradient through it (torch: NaN); at h = 0 the
   gradient is the finite limit h/(w^2+h^2), -w/(w^2+h^2) (torch: NaN). */
LOSSK_API lossk_status lossk_ciou_loss_f32(
    const float *pred, const float *target, int64_t n, lossk_box_format format, double eps,
    lossk_ciou_alpha alpha, lossk_reduction reduction, double *loss_out, float *loss_none,
    float *grad, int n_threads);
LOSSK_API lossk_status lossk_ciou_loss_f64(
    const double *pred, const double *target, int64_t n, lossk_box_format format, double eps,
    lossk_ciou_alpha alpha, lossk_reduction reduction, double *loss_out, double *loss_none,
    double *grad, int n_threads);

/* EIoU (Zhang et al. 2021): 1 - IoU + rho^2/(cw^2 + ch^2 + eps)
   + (w - wg)^2/(cw^2 + eps) + (h - hg)^2/(ch^2 + eps). focal_gamma > 0 gives
   Focal-EIoU, IoU^gamma times that, IoU^gamma a constant for the gradient;
   0 gives EIoU. */
LOSSK_API lossk_status lossk_eiou_loss_f32(
    const float *pred, const float *target, int64_t n, lossk_box_format format, double eps,
    double focal_gamma, lossk_reduction reduction, double *loss_out, float *loss_none,
    float *grad, int n_threads);
LOSSK_API lossk_status lossk_eiou_loss_f64(
    const double *pred, const double *target, int64_t n, lossk_box_format format, double eps,
    double focal_gamma, lossk_reduction reduction, double *loss_out, double *loss_none,
    double *grad, int n_threads);

/* SIoU (Gevorgyan 2022): 1 - IoU + (Delta + Omega)/2 with
   Lambda = 1 - 2 sin^2(arcsin(x) - pi/4) = 2 |dx| |dy| / rho^2 (0 when the
   centres coincide), gamma = 2 - Lambda,
   Delta = sum over x, y of 1 - exp(-gamma d^2/(c^2 + eps)) (c = cw, ch),
   Omega = sum over w, h of (1 - exp(-|w - wg| / max(w, wg, eps)))^theta.
   theta >= 1. Nothing is constant for the gradient. */
LOSSK_API lossk_status lossk_siou_loss_f32(
    const float *pred, const float *target, int64_t n, lossk_box_format format, double eps,
    double theta, lossk_reduction reduction, double *loss_out, float *loss_none, float *grad,
    int n_threads);
LOSSK_API lossk_status lossk_siou_loss_f64(
    const double *pred, const double *target, int64_t n, lossk_box_format format, double eps,
    double theta, lossk_reduction reduction, double *loss_out, double *loss_none, double *grad,
    int n_threads);

/* Wise-IoU (Tong et al. 2023). v1: R (1 - IoU), R = exp(min(rho^2/D, 1)),
   D = cw^2 + ch^2 + eps a constant for the gradient (rho^2/D < 1 for valid
   boxes; the clamp keeps inverted boxes finite).
   mean_iou_loss NULL: v1. Otherwise v3 with explicit state: if momentum > 0
   (training), first *mean_iou_loss = (1 - momentum) *mean_iou_loss
   + momentum * (mean of 1 - IoU over the batch); then each pair's v1 loss is
   multiplied by r = beta / (delta alpha^(beta - delta)),
   beta = (1 - IoU) / *mean_iou_loss, r a constant for the gradient.
   Requires *mean_iou_loss >= 0 (or NaN, which propagates), momentum in
   [0, 1], alpha > 0, delta > 0. */
LOSSK_API lossk_status lossk_wiou_loss_f32(
    const float *pred, const float *target, int64_t n, lossk_box_format format, double eps,
    double *mean_iou_loss, double momentum, double alpha, double delta,
    lossk_reduction reduction, double *loss_out, float *loss_none, float *grad, int n_threads);
LOSSK_API lossk_status lossk_wiou_loss_f64(
    const double *pred, const double *target, int64_t n, lossk_box_format format, double eps,
    double *mean_iou_loss, double momentum, double alpha, double delta,
    lossk_reduction reduction, double *loss_out, double *loss_none, double *grad, int n_threads);

#ifdef LOSSK_UNSTABLE_API
/* The box family's entry: any loss above by its name in Python ("iou_loss",
   "giou_loss", "diou_loss", "ciou_loss", "eiou_loss", "siou_loss",
   "wiou_loss"), float32 or float64; the typed entries above call it. */
typedef struct lossk_box_args {
    size_t size;                 /* sizeof(lossk_box_args): fields are only appended */
    lossk_dtype dtype;
    const void *pred, *target;   /* n boxes of 4 values each */
    int64_t n;
    lossk_box_format format;
    double eps;
    double option;               /* ciou_loss: a lossk_ciou_alpha; eiou_loss: focal_gamma (0: EIoU);
                                    siou_loss: theta; the others: unused */
    double *mean_iou_loss;       /* wiou_loss: NULL (v1), or v3's running mean, in and out */
    double momentum, alpha, delta;  /* wiou_loss v3 */
    lossk_reduction reduction;
    double *loss_out;
    void *loss_none, *grad;
    int n_threads;
} lossk_box_args;
LOSSK_API lossk_status lossk_box_loss(const char *loss, const lossk_box_args *args);
#endif

/* Pairwise IoU of boxes1 (n x 4) and boxes2 (m x 4) into out (n x m,
   row-major): = torchvision box_iou (I / U, no eps: 0/0 is NaN as there). */
LOSSK_API lossk_status lossk_box_iou_f32(
    const float *boxes1, int64_t n, const float *boxes2, int64_t m, lossk_box_format format,
    float *out, int n_threads);
LOSSK_API lossk_status lossk_box_iou_f64(
    const double *boxes1, int64_t n, const double *boxes2, int64_t m, lossk_box_format format,
    double *out, int n_threads);
/* = torchvision generalized_box_iou: IoU - (C - U)/C, C the enclosing box's
   area with its sides clamped at 0. */
LOSSK_API lossk_status lossk_generalized_box_iou_f32(
    const float *boxes1, int64_t n, const float *boxes2, int64_t m, lossk_box_format format,
    float *out, int n_threads);
LOSSK_API lossk_status lossk_generalized_box_iou_f64(
    const double *boxes1, int64_t n, const double *boxes2, int64_t m, lossk_box_format format,
    double *out, int n_threads);

/*
 * Penalties over a list of arrays (Keras' regularizers), a family entry:
 * penalty "l1_penalty": lam sum |w|, gradient lam sign(w) (0 at w = 0, NaN
 * stays NaN); "l2_penalty": lam sum w^2, gradient 2 lam w. No target and no
 * reduction: *loss_out receives the sum over all n_arrays arrays (arrays[a]
 * has sizes[a] elements of `dtype`; 0 for no elements). lam must be finite
 * and >= 0. grads NULL: no gradient work; else n_arrays pointers, grads[a]
 * of sizes[a] elements, which receive the gradient, or with `accumulate`
 * nonzero have it added to them. A gradient must not overlap any input
 * (grads[a] == arrays[a] gives LOSSK_ERR_ALIASING; other overlaps are not
 * detected). Each array is summed in blocks of a fixed size: bitwise
 * identical results for every n_threads.
 */
LOSSK_API lossk_status lossk_penalty(
    const char *penalty, lossk_dtype dtype, int64_t n_arrays, const void *const *arrays,
    const int64_t *sizes, double lam, double *loss_out, void *const *grads, int accumulate,
    int n_threads);

#ifdef LOSSK_UNSTABLE_API
/*
 * Listwise ranking losses over b lists of l items (scores and relevance b x l,
 * row-major, of `dtype`), a family entry, as allRank defines them
 * (allrank/models/losses): "listnet_loss", "listmle_loss", "approx_ndcg_loss".
 * An item is padding where its relevance is exactly -1 (allRank's
 * padded_value_indicator) or, when mask is not NULL, where mask (b x l bytes)
 * is 0; padding takes no part in a list's loss and gets gradient 0. A list
 * with no real item has loss 0. eps is allRank's (1e-10 there), >= 0;
 * alpha (approx_ndcg_loss only) > 0 and finite. ListMLE orders ties of
 * relevance by position (a stable sort; allRank shuffles them).
 * reduction: NONE gives one loss per list (loss_none, b values of dtype),
 * SUM their sum, MEAN their sum / b (NaN for b = 0). grad (b x l, NULL: no
 * gradient work) receives d(loss)/d(scores); it may be scores itself.
 * Fixed blocks of lists: bitwise identical results for every n_threads.
 */
typedef struct lossk_listwise_args {
    size_t size;                 /* sizeof(lossk_listwise_args): fields are only appended */
    lossk_dtype dtype;
    const void *scores, *relevance;
    const uint8_t *mask;         /* NULL, or b x l bytes, nonzero = a real item */
    int64_t b, l;                /* l >= 1 */
    double alpha;                /* approx_ndcg_loss: the sigmoid's scale */
    double eps;
    lossk_reduction reduction;
    double *loss_out;
    void *loss_none, *grad;
    int n_threads;
} lossk_listwise_args;
LOSSK_API lossk_status lossk_listwise(const char *loss, const lossk_listwise_args *args);
#endif /* LOSSK_UNSTABLE_API */

#ifdef LOSSK_UNSTABLE_API
/*
 * Segmentation losses, a family entry: loss "dice_loss" or "tversky_loss"
 * (= segmentation_models_pytorch 0.6's DiceLoss / TverskyLoss; dice is
 * Tversky with alpha = beta = 1/2 and gamma = 1, its alpha/beta/gamma fields
 * are not read). pred is n x c x inner (inner = product of the spatial dims;
 * SMP's binary mode is c = 1 over all of an image's elements). Per element,
 * p = softmax over c of pred (index_target and from_logits), sigmoid(pred)
 * (masks and from_logits) or pred; m = 0 where the target is ignore_index
 * (has_ignore), else 1; pm = p m; t = [target == k] m (class indices, n x
 * inner of target_type) or target m (masks: n x c x inner of dtype, any real
 * values, soft masks included). Per class k (per image and class with
 * per_image: K = n c, else K = c):
 *   Sp = sum pm, St = sum t, D = sum |pm - t|, I = (Sp + St - D) / 2,
 *   score = (I + smooth) / max(I + alpha (Sp - I) + beta (St - I) + smooth, eps),
 *   L_k = (1 - score) if St > 0, else 0.
 * MEAN: *loss_out = (sum_k L_k / K)^gamma (NaN for K = 0); NONE: loss_none
 * (K values of dtype) receives the L_k. grad (n x c x inner, NULL: no gradient
 * work, or equal to pred) receives d(loss)/d(pred), for NONE d(sum_k
 * upstream[k] L_k)/d(pred) (upstream NULL: all 1); d|v|/dv is 0 at v = 0, as
 * torch. smooth, eps, alpha, beta finite and >= 0; gamma finite and > 0. A class
 * index outside [0, c) that is not ignore_index gives LOSSK_ERR_TARGET_RANGE
 * with bad_index its flat position, before anything is written.
 */
typedef struct lossk_segmentation_args {
    size_t size;                  /* sizeof(lossk_segmentation_args): fields are only appended */
    lossk_dtype dtype;
    const void *pred;             /* n x c x inner */
    int64_t n, c, inner;
    const void *target;           /* class indices (n x inner) or masks (n x c x inner, dtype) */
    int index_target;             /* nonzero: class indices of target_type ("multiclass") */
    lossk_index_type target_type;
    int from_logits;
    int has_ignore;
    int64_t ignore_index;
    double smooth, eps, alpha, beta, gamma;
    int per_image;
    lossk_reduction reduction;    /* MEAN or NONE */
    double *loss_out;
    void *loss_none;              /* K values of dtype */
    const double *upstream;       /* NONE: K weights of the per-class losses, or NULL */
    void *grad;
    int n_threads;
    int64_t bad_index;            /* out: LOSSK_ERR_TARGET_RANGE's flat position */
} lossk_segmentation_args;
LOSSK_API lossk_status lossk_segmentation(const char *loss, lossk_segmentation_args *args);
#endif

#ifdef LOSSK_UNSTABLE_API
/*
 * The linear-chain CRF family entry (pytorch-crf's CRF with batch_first):
 * op "crf_nll_loss" or "crf_decode"; an unknown op is
 * LOSSK_ERR_INVALID_ARGUMENT.
 *   size        sizeof(lossk_crf_args) as the caller compiled it
 *   emissions   batch x steps x num_tags of `dtype`
 *   transitions num_tags x num_tags (from tag i to tag j at [i, j]);
 *               start_transitions, end_transitions num_tags each
 *   lengths     batch lengths in [1, steps] (the mask's prefixes), or NULL:
 *               every sequence has all `steps` steps (num_tags <= 46000)
 * crf_nll_loss: tags batch x steps of `tags_type`, in [0, num_tags) within
 *   each length (else LOSSK_ERR_TARGET_RANGE, bad_index = b * steps + t of
 *   the first, and nothing written), ignored beyond it. loss_b = logZ_b -
 *   score_b (score = start[y0] + sum em[t, y_t] + sum tr[y_{t-1}, y_t] +
 *   end[y_{L-1}], logZ its log-sum-exp over all paths). NONE: loss_none
 *   (batch values); SUM, MEAN (/ batch) and TOKEN_MEAN (/ the sum of the
 *   lengths): *loss_out. The four gradients of the returned loss (of the sum
 *   for NONE) are all NULL (no gradient work) or all given; each may be its
 *   own input (in place: the transitions are read once, before any write, and
 *   an emission step before its gradient), and grad_emissions is 0 beyond each
 *   length. Bitwise identical for every n_threads.
 *   upstream (appended field; NONE with gradients only, else
 *   LOSSK_ERR_INVALID_ARGUMENT): batch weights, the gradients are then
 *   d(sum_b upstream[b] loss_b)/d(inputs) (the transitions' are sums over the
 *   sequences, not a per-sequence product); NULL means all 1.
 * crf_decode: paths batch x steps int64, the Viterbi path of each sequence
 *   (pytorch-crf's decode: its order of operations in `dtype`, the first
 *   maximum on ties), -1 beyond its length. tags, reduction, loss and
 *   gradients are unused.
 */
typedef struct lossk_crf_args {
    size_t size;
    lossk_dtype dtype;
    const void *emissions;
    int64_t batch, steps, num_tags;
    const void *tags;
    lossk_index_type tags_type;
    const int64_t *lengths;
    const void *transitions, *start_transitions, *end_transitions;
    lossk_reduction reduction;
    double *loss_out;
    void *loss_none;
    void *grad_emissions, *grad_transitions, *grad_start, *grad_end;
    int64_t *paths;
    int n_threads;
    int64_t bad_index;
    const double *upstream;
} lossk_crf_args;

LOSSK_API lossk_status lossk_crf(const char *op, lossk_crf_args *args);
#endif /* LOSSK_UNSTABLE_API */

#ifdef LOSSK_UNSTABLE_API
/*
 * Metric learning, a family entry: lossk_metric(loss, args) with loss
 * "triplet_margin_loss" (= torch.nn.functional.triplet_margin_loss): anchor,
 * positive, negative n x d each (d values per row); per row
 * d(x, y) = ||x - y + eps||_p (eps added to the difference, as torch's
 * pairwise_distance), with swap the negative distance min(d(a, n), d(p, n)),
 * loss max(0, margin + d(a, p) - d(a, n)). margin > 0, p > 0 and finite.
 * Gradients: all three pointers or none (NULL: no gradient work); each may be
 * its own input (in place). At zero distance the distance's gradient is 0
 * (torch's norm backward); where the loss is exactly 0 at the hinge, the
 * gradient passes (torch's clamp_min); a tie of the swap's min splits it in
 * halves (torch's minimum). Mean of n = 0 rows: NaN.
 */
typedef struct lossk_metric_args {
    size_t size;                 /* sizeof(lossk_metric_args): fields are only appended */
    lossk_dtype dtype;
    const void *anchor, *positive, *negative;
    int64_t n, d;
    double margin, p, eps;
    int swap;
    lossk_reduction reduction;
    double *loss_out;
    void *loss_none;             /* n values of dtype, for LOSSK_REDUCTION_NONE */
    void *grad_anchor, *grad_positive, *grad_negative;
    int n_threads;
} lossk_metric_args;
LOSSK_API lossk_status lossk_metric(const char *loss, const lossk_metric_args *args);

/*
 * The row step of the contrastive losses (NT-Xent, InfoNCE), for a caller
 * that computes the similarity matrix one block of rows at a time (lossk's
 * Python layer does, with BLAS). `sim` holds `rows` rows of `cols` dot
 * products; row r is anchor i = row0 + r, its logits s_j = sim[r][j] *
 * inv_temperature. Candidates: every column j, except j = i when
 * exclude_self, plus extra[r] * inv_temperature when `extra` is not NULL
 * (then that extra logit is the positive, and pos_shift must be -1);
 * otherwise the positive is column (i + pos_shift) mod cols (pos_shift >= 0).
 * loss[r] = logsumexp(candidates) - positive logit (double). With grad
 * nonzero the row is overwritten with d(weight[r] loss[r]) / d s_j =
 * weight[r] (softmax_j - [j = positive]) (0 at the excluded column), and
 * extra_grad[r] receives the extra logit's. Rows are independent: the
 * results do not depend on n_threads or on how the rows are cut into calls.
 */
typedef struct lossk_contrastive_rows_args {
    size_t size;                 /* sizeof(lossk_contrastive_rows_args) */
    lossk_dtype dtype;
    void *sim;
    int64_t rows, cols, row0;
    double inv_temperature;      /* > 0, finite */
    int64_t pos_shift;           /* >= 0, or -1 with extra */
    int exclude_self;
    const double *extra;         /* NULL or rows raw dot products */
    const double *weight;        /* rows upstream weights (needed with grad) */
    double *loss;                /* rows */
    double *extra_grad;          /* rows (with grad and extra) */
    int grad;
    int n_threads;
} lossk_contrastive_rows_args;
LOSSK_API lossk_status lossk_contrastive_rows(const lossk_contrastive_rows_args *args);
#endif /* LOSSK_UNSTABLE_API */

/*
 * Linear cross-entropy (Python: lossk.linear_cross_entropy) has no entry of
 * its own: its work is three matrix products per chunk, which belong to the
 * caller's BLAS, and lossk_cross_entropy_f32/_f64 on each chunk. For hidden H
 * (n x d), classifier W (v x d), optional bias b (v), targets t (n), rows in
 * chunks of r (one r x v logits buffer L, reused):
 *   count = number of t[i] != ignore_index (known before the first chunk);
 *   for each chunk [c0, c0 + r):
 *     L = H[c0:] W^T (+ b on each row)             sgemm, beta 0
 *     lossk_cross_entropy_f32(L, r, v, 1, t + c0, ..., ignore_index,
 *         label_smoothing, LOSSK_REDUCTION_SUM, &part, NULL, L, ...)
 *                                  L now holds d(sum of the chunk's losses)/dL
 *     total += part                                (chunks in a fixed order)
 *     dW += L^T H[c0:]                             sgemm, beta 0 then 1
 *     dH[c0:] = L W                                sgemm (after dW: dH may be H)
 *     db += column sums of L
 * mean: loss = total / count (NaN when count is 0), and dH, dW, db scaled by
 * 1 / count (or pass alpha = 1 / count to the two gradient sgemms). NONE:
 * LOSSK_REDUCTION_NONE with loss_none + c0 instead of SUM; upstream weights
 * u (n) of the per-row losses: scale row i of L by u[c0 + i] before the two
 * gradient sgemms (dW and db sum over rows: scaling afterwards cannot).
 */

#ifdef LOSSK_UNSTABLE_API
/* Block sums, for streaming callers (lossk.dask, `lossk eval`). Every loss's
 * value is a float64 sum of fixed blocks added left to right; a caller that
 * cuts the rows into chunks of whole blocks and adds every chunk's block sums
 * left to right gets the whole call's value bit for bit.
 * lossk_block_sums_record(1): from now on, the calling thread's calls whose
 * value is one such sum record their block sums (the last call's replace the
 * previous); (0): stop and free the record. lossk_block_sums: how many block
 * sums the last such call recorded (-1: none since recording began), and up
 * to cap of them copied into out. */
LOSSK_API void lossk_block_sums_record(int on);
LOSSK_API int64_t lossk_block_sums(double *out, int64_t cap);
#endif

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LOSSK_H */
