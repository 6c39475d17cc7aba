# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Bridge to the C library (csrc/include/lossk.h).

Only this: typed memoryviews in, one `nogil` call, status code -> exception.
Validation, dtype/layout policy and output allocation live in the Python API;
arrays arrive here flattened, C-contiguous and of the kernel's dtype.
"""
from cython cimport floating
from libc.stdint cimport int32_t, int64_t
cimport numpy as cnp

cnp.import_array()

# the family entries of lossk.h (lossk_pointwise) are declared under this macro
cdef extern from *:
    """
    #define LOSSK_UNSTABLE_API
    """


cdef extern from "lossk.h" nogil:
    ctypedef enum lossk_status:
        LOSSK_OK
        LOSSK_ERR_INVALID_ARGUMENT
        LOSSK_ERR_TARGET_RANGE
        LOSSK_ERR_NO_MEMORY
        LOSSK_ERR_ALIASING
        LOSSK_ERR_DOMAIN
    ctypedef enum lossk_reduction:
        pass
    ctypedef enum lossk_index_type:
        LOSSK_INDEX_INT32
        LOSSK_INDEX_INT64
    ctypedef enum lossk_simd_level:
        pass
    ctypedef enum lossk_dtype:
        LOSSK_DTYPE_F32
        LOSSK_DTYPE_F64
    ctypedef struct lossk_operand:
        const void *data
        int64_t inner, period
    ctypedef struct lossk_pointwise_args:
        size_t size
        lossk_dtype dtype
        const void *pred
        int64_t n
        lossk_operand target, weight, aux
        double param[8]
        int64_t batch_size
        lossk_reduction reduction
        double *loss_out
        void *loss_none
        void *grad
        void *grad2
        int n_threads
        int64_t bad_index
    lossk_status lossk_pointwise(const char *loss, lossk_pointwise_args *args)

    unsigned lossk_version_number()
    const char *lossk_version_string()
    const char *lossk_status_string(lossk_status status)
    int lossk_has_openmp()
    int lossk_default_threads()
    lossk_simd_level lossk_simd_level_active()
    lossk_simd_level lossk_simd_level_compiled()
    const char *lossk_simd_level_name(lossk_simd_level level)
    const char *lossk_build_info()

    lossk_status lossk_cross_entropy_f32(
        const float *logits, int64_t n, int64_t c, int64_t inner,
        const void *target, lossk_index_type target_type,
        const float *class_weight, int64_t ignore_index, double label_smoothing,
        lossk_reduction reduction, double *loss_out, float *loss_none, float *grad,
        int n_threads, int64_t *bad_index)
    lossk_status lossk_cross_entropy_f64(
        const double *logits, int64_t n, int64_t c, int64_t inner,
        const void *target, lossk_index_type target_type,
        const double *class_weight, int64_t ignore_index, double label_smoothing,
        lossk_reduction reduction, double *loss_out, double *loss_none, double *grad,
        int n_threads, int64_t *bad_index)
    lossk_status lossk_cross_entropy_soft_f32(
        const float *logits, int64_t n, int64_t c, int64_t inner,
        const float *target_probs, const float *class_weight, double label_smoothing,
        lossk_reduction reduction, double *loss_out, float *loss_none, float *grad,
        int n_threads)
    lossk_status lossk_cross_entropy_soft_f64(
        const double *logits, int64_t n, int64_t c, int64_t inner,
        const double *target_probs, const double *class_weight, double label_smoothing,
        lossk_reduction reduction, double *loss_out, double *loss_none, double *grad,
        int n_threads)
    lossk_status lossk_softmax_focal_loss_f32(
        const float *logits, int64_t n, int64_t c, int64_t inner,
        const void *target, lossk_index_type target_type,
        const float *alpha, double gamma, int64_t ignore_index,
        lossk_reduction reduction, double *loss_out, float *loss_none, float *grad,
        int n_threads, int64_t *bad_index)
    lossk_status lossk_softmax_focal_loss_f64(
        const double *logits, int64_t n, int64_t c, int64_t inner,
        const void *target, lossk_index_type target_type,
        const double *alpha, double gamma, int64_t ignore_index,
        lossk_reduction reduction, double *loss_out, double *loss_none, double *grad,
        int n_threads, int64_t *bad_index)
    lossk_status lossk_nll_loss_f32(
        const float *log_probs, int64_t n, int64_t c, int64_t inner,
        const void *target, lossk_index_type target_type,
        const float *class_weight, int64_t ignore_index,
        lossk_reduction reduction, double *loss_out, float *loss_none, float *grad,
        int n_threads, int64_t *bad_index)
    lossk_status lossk_nll_loss_f64(
        const double *log_probs, int64_t n, int64_t c, int64_t inner,
        const void *target, lossk_index_type target_type,
        const double *class_weight, int64_t ignore_index,
        lossk_reduction reduction, double *loss_out, double *loss_none, double *grad,
        int n_threads, int64_t *bad_index)
    lossk_status lossk_multi_margin_loss_f32(
        const float *scores, int64_t n, int64_t c,
        const void *target, lossk_index_type target_type,
        const float *class_weight, int p, double margin,
        lossk_reduction reduction, double *loss_out, float *loss_none, float *grad,
        int n_threads, int64_t *bad_index)
    lossk_status lossk_multi_margin_loss_f64(
        const double *scores, int64_t n, int64_t c,
        const void *target, lossk_index_type target_type,
        const double *class_weight, int p, double margin,
        lossk_reduction reduction, double *loss_out, double *loss_none, double *grad,
        int n_threads, int64_t *bad_index)
    lossk_status lossk_sigmoid_focal_loss_f32(
        const float *logits, const float *target, int64_t n, double alpha, double gamma,
        lossk_reduction reduction, double *loss_out, float *loss_none, float *grad, int n_threads)
    lossk_status lossk_sigmoid_focal_loss_f64(
        const double *logits, const double *target, int64_t n, double alpha, double gamma,
        lossk_reduction reduction, double *loss_out, double *loss_none, double *grad, int n_threads)
    lossk_status lossk_binary_cross_entropy_f32(
        const float *probs, const float *target, int64_t n,
        const float *weight, int64_t weight_inner, int64_t weight_period,
        lossk_reduction reduction, double *loss_out, float *loss_none, float *grad,
        int n_threads, int64_t *bad_index)
    lossk_status lossk_binary_cross_entropy_f64(
        const double *probs, const double *target, int64_t n,
        const double *weight, int64_t weight_inner, int64_t weight_period,
        lossk_reduction reduction, double *loss_out, double *loss_none, double *grad,
        int n_threads, int64_t *bad_index)
    lossk_status lossk_binary_cross_entropy_with_logits_f32(
        const float *logits, const float *target, int64_t n,
        const float *weight, int64_t weight_inner, int64_t weight_period,
        const float *pos_weight, int64_t pos_weight_inner, int64_t pos_weight_period,
        lossk_reduction reduction, double *loss_out, float *loss_none, float *grad, int n_threads)
    lossk_status lossk_binary_cross_entropy_with_logits_f64(
        const double *logits, const double *target, int64_t n,
        const double *weight, int64_t weight_inner, int64_t weight_period,
        const double *pos_weight, int64_t pos_weight_inner, int64_t pos_weight_period,
        lossk_reduction reduction, double *loss_out, double *loss_none, double *grad, int n_threads)
    lossk_status lossk_hinge_loss_f32(
        const float *scores, const float *target, int64_t n, double margin, int squared,
        lossk_reduction reduction, double *loss_out, float *loss_none, float *grad,
        int n_threads, int64_t *bad_index)
    lossk_status lossk_hinge_loss_f64(
        const double *scores, const double *target, int64_t n, double margin, int squared,
        lossk_reduction reduction, double *loss_out, double *loss_none, double *grad,
        int n_threads, int64_t *bad_index)
    lossk_status lossk_kl_div_f32(
        const float *log_input, const float *target, int64_t n, int64_t batch_size, int log_target,
        lossk_reduction reduction, double *loss_out, float *loss_none, float *grad, int n_threads)
    lossk_status lossk_kl_div_f64(
        const double *log_input, const double *target, int64_t n, int64_t batch_size, int log_target,
        lossk_reduction reduction, double *loss_out, double *loss_none, double *grad, int n_threads)
    ctypedef enum lossk_box_format:
        pass
    ctypedef enum lossk_ciou_alpha:
        pass
    lossk_status lossk_iou_loss_f32(
        const float *pred, const float *target, int64_t n, lossk_box_format format, double eps,
        lossk_reduction reduction, double *loss_out, float *loss_none, float *grad, int n_threads)
    lossk_status lossk_iou_loss_f64(
        const double *pred, const double *target, int64_t n, lossk_box_format format, double eps,
        lossk_reduction reduction, double *loss_out, double *loss_none, double *grad, int n_threads)
    lossk_status lossk_giou_loss_f32(
        const float *pred, const float *target, int64_t n, lossk_box_format format, double eps,
        lossk_reduction reduction, double *loss_out, float *loss_none, float *grad, int n_threads)
    lossk_status lossk_giou_loss_f64(
        const double *pred, const double *target, int64_t n, lossk_box_format format, double eps,
        lossk_reduction reduction, double *loss_out, double *loss_none, double *grad, int n_threads)
    lossk_status lossk_diou_loss_f32(
        const float *pred, const float *target, int64_t n, lossk_box_format format, double eps,
        lossk_reduction reduction, double *loss_out, float *loss_none, float *grad, int n_threads)
    lossk_status lossk_diou_loss_f64(
        const double *pred, const double *target, int64_t n, lossk_box_format format, double eps,
        lossk_reduction reduction, double *loss_out, double *loss_none, double *grad, int n_threads)
    lossk_status lossk_ciou_loss_f32(
        const float *pred, const float *target, int64_t n, lossk_box_format format, double eps,
        lossk_ciou_alpha alpha, lossk_reduction reduction, double *loss_out, float *loss_none,
        float *grad, int n_threads)
    lossk_status lossk_ciou_loss_f64(
        const double *pred, const double *target, int64_t n, lossk_box_format format, double eps,
        lossk_ciou_alpha alpha, lossk_reduction reduction, double *loss_out, double *loss_none,
        double *grad, int n_threads)
    lossk_status lossk_eiou_loss_f32(
        const float *pred, const float *target, int64_t n, lossk_box_format format, double eps,
        double focal_gamma, lossk_reduction reduction, double *loss_out, float *loss_none,
        float *grad, int n_threads)
    lossk_status lossk_eiou_loss_f64(
        const double *pred, const double *target, int64_t n, lossk_box_format format, double eps,
        double focal_gamma, lossk_reduction reduction, double *loss_out, double *loss_none,
        double *grad, int n_threads)
    lossk_status lossk_siou_loss_f32(
        const float *pred, const float *target, int64_t n, lossk_box_format format, double eps,
        double theta, lossk_reduction reduction, double *loss_out, float *loss_none, float *grad,
        int n_threads)
    lossk_status lossk_siou_loss_f64(
        const double *pred, const double *target, int64_t n, lossk_box_format format, double eps,
        double theta, lossk_reduction reduction, double *loss_out, double *loss_none, double *grad,
        int n_threads)
    lossk_status lossk_wiou_loss_f32(
        const float *pred, const float *target, int64_t n, lossk_box_format format, double eps,
        double *mean_iou_loss, double momentum, double alpha, double delta,
        lossk_reduction reduction, double *loss_out, float *loss_none, float *grad, int n_threads)
    lossk_status lossk_wiou_loss_f64(
        const double *pred, const double *target, int64_t n, lossk_box_format format, double eps,
        double *mean_iou_loss, double momentum, double alpha, double delta,
        lossk_reduction reduction, double *loss_out, double *loss_none, double *grad, int n_threads)
    lossk_status lossk_box_iou_f32(
        const float *boxes1, int64_t n, const float *boxes2, int64_t m, lossk_box_format format,
        float *out, int n_threads)
    lossk_status lossk_box_iou_f64(
        const double *boxes1, int64_t n, const double *boxes2, int64_t m, lossk_box_format format,
        double *out, int n_threads)
    lossk_status lossk_generalized_box_iou_f32(
        const float *boxes1, int64_t n, const float *boxes2, int64_t m, lossk_box_format format,
        float *out, int n_threads)
    lossk_status lossk_generalized_box_iou_f64(
        const double *boxes1, int64_t n, const double *boxes2, int64_t m, lossk_box_format format,
        double *out, int n_threads)


class TargetIndexError(ValueError):
    """A class index outside [0, C) that is not ignore_index; `.position` is
    its flat position in the target array (the API turns it into a message)."""

    def __init__(self, position):
        super().__init__("class index out of range at flat position %d" % position)
        self.position = position


class DomainError(ValueError):
    """An input value outside the loss's domain (a probability outside [0, 1],
    a label not in {-1, 0, 1}); `.position` is its flat position."""

    def __init__(self, position):
        super().__init__("input value outside the loss's domain at flat position %d" % position)
        self.position = position


cdef int check_status(lossk_status status, int64_t bad_index) except -1:
    if status == LOSSK_OK:
        return 0
    if status == LOSSK_ERR_TARGET_RANGE:
        raise TargetIndexError(bad_index)
    if status == LOSSK_ERR_DOMAIN:
        raise DomainError(bad_index)
    if status == LOSSK_ERR_NO_MEMORY:
        raise MemoryError("lossk: " + lossk_status_string(status).decode())
    raise ValueError("lossk: " + lossk_status_string(status).decode())


ctypedef fused index_t:
    int32_t
    int64_t


# Empty arrays have no element 0 to take the address of.
cdef inline const floating *cptr(const floating[::1] a) noexcept nogil:
    return &a[0] if a is not None and a.shape[0] > 0 else NULL


cdef inline floating *mptr(floating[::1] a) noexcept nogil:
    return &a[0] if a is not None and a.shape[0] > 0 else NULL


cdef object _cross_entropy(const floating[::1] logits, const index_t[::1] target,
                           const floating[::1] weight, floating[::1] loss_none, floating[::1] grad,
                           int64_t n, int64_t c, int64_t inner, int64_t ignore_index,
                           double label_smoothing, int reduction, int n_threads):
    cdef double loss = 0.0
    cdef int64_t bad = -1
    cdef lossk_status status
    cdef const void *tptr = &target[0] if target.shape[0] > 0 else NULL
    cdef lossk_index_type ttype = LOSSK_INDEX_INT64 if index_t is int64_t else LOSSK_INDEX_INT32
    with nogil:
        if floating is float:
            status = lossk_cross_entropy_f32(
                cptr(logits), n, c, inner, tptr, ttype, cptr(weight), ignore_index,
                label_smoothing, <lossk_reduction>reduction, &loss, mptr(loss_none), mptr(grad),
                n_threads, &bad)
        else:
            status = lossk_cross_entropy_f64(
                cptr(logits), n, c, inner, tptr, ttype, cptr(weight), ignore_index,
                label_smoothing, <lossk_reduction>reduction, &loss, mptr(loss_none), mptr(grad),
                n_threads, &bad)
    check_status(status, bad)
    return loss


cdef object _cross_entropy_soft(const floating[::1] logits, const floating[::1] target,
                                const floating[::1] weight, floating[::1] loss_none,
                                floating[::1] grad, int64_t n, int64_t c, int64_t inner,
                                double label_smoothing, int reduction, int n_threads):
    cdef double loss = 0.0
    cdef lossk_status status
    with nogil:
        if floating is float:
            status = lossk_cross_entropy_soft_f32(
                cptr(logits), n, c, inner, cptr(target), cptr(weight), label_smoothing,
                <lossk_reduction>reduction, &loss, mptr(loss_none), mptr(grad), n_threads)
        else:
            status = lossk_cross_entropy_soft_f64(
                cptr(logits), n, c, inner, cptr(target), cptr(weight), label_smoothing,
                <lossk_reduction>reduction, &loss, mptr(loss_none), mptr(grad), n_threads)
    check_status(status, -1)
    return loss


cdef const void *index_data(object target, lossk_index_type *ttype) except? NULL:
    """Data pointer (NULL when empty) and type of a 1-D C-contiguous int32 or int64
    array of class indices; the caller keeps `target` alive."""
    cdef const int32_t[::1] t32
    cdef const int64_t[::1] t64
    if target.dtype.itemsize == 8:
        ttype[0] = LOSSK_INDEX_INT64
        t64 = target
        return &t64[0] if t64.shape[0] > 0 else NULL
    ttype[0] = LOSSK_INDEX_INT32
    t32 = target
    return &t32[0] if t32.shape[0] > 0 else NULL


cdef object _softmax_focal_loss(const floating[::1] logits, object target,
                                const floating[::1] alpha, floating[::1] loss_none, floating[::1] grad,
                                int64_t n, int64_t c, int64_t inner, int64_t ignore_index, double gamma,
                                int reduction, int n_threads):
    cdef double loss = 0.0
    cdef int64_t bad = -1
    cdef lossk_status status
    cdef lossk_index_type ttype
    cdef const void *tptr = index_data(target, &ttype)
    with nogil:
        if floating is float:
            status = lossk_softmax_focal_loss_f32(
                cptr(logits), n, c, inner, tptr, ttype, cptr(alpha), gamma, ignore_index,
                <lossk_reduction>reduction, &loss, mptr(loss_none), mptr(grad), n_threads, &bad)
        else:
            status = lossk_softmax_focal_loss_f64(
                cptr(logits), n, c, inner, tptr, ttype, cptr(alpha), gamma, ignore_index,
                <lossk_reduction>reduction, &loss, mptr(loss_none), mptr(grad), n_threads, &bad)
    check_status(status, bad)
    return loss


cdef object _nll_loss(const floating[::1] log_probs, object target,
                      const floating[::1] weight, floating[::1] loss_none, floating[::1] grad,
                      int64_t n, int64_t c, int64_t inner, int64_t ignore_index,
                      int reduction, int n_threads):
    cdef double loss = 0.0
    cdef int64_t bad = -1
    cdef lossk_status status
    cdef lossk_index_type ttype
    cdef const void *tptr = index_data(target, &ttype)
    with nogil:
        if floating is float:
            status = lossk_nll_loss_f32(
                cptr(log_probs), n, c, inner, tptr, ttype, cptr(weight), ignore_index,
                <lossk_reduction>reduction, &loss, mptr(loss_none), mptr(grad), n_threads, &bad)
        else:
            status = lossk_nll_loss_f64(
                cptr(log_probs), n, c, inner, tptr, ttype, cptr(weight), ignore_index,
                <lossk_reduction>reduction, &loss, mptr(loss_none), mptr(grad), n_threads, &bad)
    check_status(status, bad)
    return loss


cdef object _multi_margin_loss(const floating[::1] scores, object target,
                               const floating[::1] weight, floating[::1] loss_none, floating[::1] grad,
                               int64_t n, int64_t c, int p, double margin, int reduction, int n_threads):
    cdef double loss = 0.0
    cdef int64_t bad = -1
    cdef lossk_status status
    cdef lossk_index_type ttype
    cdef const void *tptr = index_data(target, &ttype)
    with nogil:
        if floating is float:
            status = lossk_multi_margin_loss_f32(
                cptr(scores), n, c, tptr, ttype, cptr(weight), p, margin,
                <lossk_reduction>reduction, &loss, mptr(loss_none), mptr(grad), n_threads, &bad)
        else:
            status = lossk_multi_margin_loss_f64(
                cptr(scores), n, c, tptr, ttype, cptr(weight), p, margin,
                <lossk_reduction>reduction, &loss, mptr(loss_none), mptr(grad), n_threads, &bad)
    check_status(status, bad)
    return loss


cdef object _sigmoid_focal_loss(const floating[::1] logits, const floating[::1] target,
                                floating[::1] loss_none, floating[::1] grad, double alpha, double gamma,
                                int reduction, int n_threads):
    cdef double loss = 0.0
    cdef lossk_status status
    cdef int64_t n = logits.shape[0]
    with nogil:
        if floating is float:
            status = lossk_sigmoid_focal_loss_f32(cptr(logits), cptr(target), n, alpha, gamma,
                                                  <lossk_reduction>reduction, &loss, mptr(loss_none),
                                                  mptr(grad), n_threads)
        else:
            status = lossk_sigmoid_focal_loss_f64(cptr(logits), cptr(target), n, alpha, gamma,
                                                  <lossk_reduction>reduction, &loss, mptr(loss_none),
                                                  mptr(grad), n_threads)
    check_status(status, -1)
    return loss


cdef object _binary_cross_entropy(const floating[::1] probs, const floating[::1] target,
                                  const floating[::1] weight, int64_t weight_inner, int64_t weight_period,
                                  floating[::1] loss_none, floating[::1] grad, int reduction, int n_threads):
    cdef double loss = 0.0
    cdef int64_t bad = -1
    cdef lossk_status status
    cdef int64_t n = probs.shape[0]
    with nogil:
        if floating is float:
            status = lossk_binary_cross_entropy_f32(
                cptr(probs), cptr(target), n, cptr(weight), weight_inner, weight_period,
                <lossk_reduction>reduction, &loss, mptr(loss_none), mptr(grad), n_threads, &bad)
        else:
            status = lossk_binary_cross_entropy_f64(
                cptr(probs), cptr(target), n, cptr(weight), weight_inner, weight_period,
                <lossk_reduction>reduction, &loss, mptr(loss_none), mptr(grad), n_threads, &bad)
    check_status(status, bad)
    return loss


cdef object _binary_cross_entropy_with_logits(const floating[::1] logits, const floating[::1] target,
                                              const floating[::1] weight, int64_t weight_inner,
                                              int64_t weight_period, const floating[::1] pos_weight,
                                              int64_t pos_weight_inner, int64_t pos_weight_period,
                                              floating[::1] loss_none, floating[::1] grad, int reduction,
                                              int n_threads):
    cdef double loss = 0.0
    cdef lossk_status status
    cdef int64_t n = logits.shape[0]
    with nogil:
        if floating is float:
            status = lossk_binary_cross_entropy_with_logits_f32(
                cptr(logits), cptr(target), n, cptr(weight), weight_inner, weight_period,
                cptr(pos_weight), pos_weight_inner, pos_weight_period,
                <lossk_reduction>reduction, &loss, mptr(loss_none), mptr(grad), n_threads)
        else:
            status = lossk_binary_cross_entropy_with_logits_f64(
                cptr(logits), cptr(target), n, cptr(weight), weight_inner, weight_period,
                cptr(pos_weight), pos_weight_inner, pos_weight_period,
                <lossk_reduction>reduction, &loss, mptr(loss_none), mptr(grad), n_threads)
    check_status(status, -1)
    return loss


cdef object _hinge_loss(const floating[::1] scores, const floating[::1] target, floating[::1] loss_none,
                        floating[::1] grad, double margin, bint squared, int reduction, int n_threads):
    cdef double loss = 0.0
    cdef int64_t bad = -1
    cdef lossk_status status
    cdef int64_t n = scores.shape[0]
    with nogil:
        if floating is float:
            status = lossk_hinge_loss_f32(cptr(scores), cptr(target), n, margin, squared,
                                          <lossk_reduction>reduction, &loss, mptr(loss_none),
                                          mptr(grad), n_threads, &bad)
        else:
            status = lossk_hinge_loss_f64(cptr(scores), cptr(target), n, margin, squared,
                                          <lossk_reduction>reduction, &loss, mptr(loss_none),
                                          mptr(grad), n_threads, &bad)
    check_status(status, bad)
    return loss


cdef object _kl_div(const floating[::1] log_input, const floating[::1] target, floating[::1] loss_none,
                    floating[::1] grad, int64_t batch_size, bint log_target, int reduction, int n_threads):
    cdef double loss = 0.0
    cdef lossk_status status
    cdef int64_t n = log_input.shape[0]
    with nogil:
        if floating is float:
            status = lossk_kl_div_f32(cptr(log_input), cptr(target), n, batch_size, log_target,
                                      <lossk_reduction>reduction, &loss, mptr(loss_none),
                                      mptr(grad), n_threads)
        else:
            status = lossk_kl_div_f64(cptr(log_input), cptr(target), n, batch_size, log_target,
                                      <lossk_reduction>reduction, &loss, mptr(loss_none),
                                      mptr(grad), n_threads)
    check_status(status, -1)
    return loss


# The box losses without state; `option` of box_loss is CIoU's alpha mode
# (0 torchvision, 1 yolo), EIoU's focal_gamma (0: none) or SIoU's theta.
cdef enum box_kind:
    BOX_IOU, BOX_GIOU, BOX_DIOU, BOX_CIOU, BOX_EIOU, BOX_SIOU

BOX_KINDS = {"iou": BOX_IOU, "giou": BOX_GIOU, "diou": BOX_DIOU, "ciou": BOX_CIOU,
             "eiou": BOX_EIOU, "siou": BOX_SIOU}


cdef object _box_loss(int kind, const floating[::1] pred, const floating[::1] target,
                      floating[::1] loss_none, floating[::1] grad, int64_t n, int box_format,
                      double eps, double option, int reduction, int n_threads):
    cdef double loss = 0.0
    cdef lossk_status status = LOSSK_ERR_INVALID_ARGUMENT
    cdef const floating *p = cptr(pred)
    cdef const floating *t = cptr(target)
    cdef floating *ln = mptr(loss_none)
    cdef floating *g = mptr(grad)
    cdef lossk_box_format fmt = <lossk_box_format>box_format
    cdef lossk_reduction red = <lossk_reduction>reduction
    # option is an int only for CIoU: casting EIoU's gamma or SIoU's theta
    # (any double, 1e300 included) to int would be undefined behaviour
    cdef lossk_ciou_alpha alpha = <lossk_ciou_alpha>(<int>option if kind == BOX_CIOU else 0)
    with nogil:
        if floating is float:
            if kind == BOX_IOU:
                status = lossk_iou_loss_f32(p, t, n, fmt, eps, red, &loss, ln, g, n_threads)
            elif kind == BOX_GIOU:
                status = lossk_giou_loss_f32(p, t, n, fmt, eps, red, &loss, ln, g, n_threads)
            elif kind == BOX_DIOU:
                status = lossk_diou_loss_f32(p, t, n, fmt, eps, red, &loss, ln, g, n_threads)
            elif kind == BOX_CIOU:
                status = lossk_ciou_loss_f32(p, t, n, fmt, eps, alpha, red, &loss, ln, g, n_threads)
            elif kind == BOX_EIOU:
                status = lossk_eiou_loss_f32(p, t, n, fmt, eps, option, red, &loss, ln, g, n_threads)
            elif kind == BOX_SIOU:
                status = lossk_siou_loss_f32(p, t, n, fmt, eps, option, red, &loss, ln, g, n_threads)
        else:
            if kind == BOX_IOU:
                status = lossk_iou_loss_f64(p, t, n, fmt, eps, red, &loss, ln, g, n_threads)
            elif kind == BOX_GIOU:
                status = lossk_giou_loss_f64(p, t, n, fmt, eps, red, &loss, ln, g, n_threads)
            elif kind == BOX_DIOU:
                status = lossk_diou_loss_f64(p, t, n, fmt, eps, red, &loss, ln, g, n_threads)
            elif kind == BOX_CIOU:
                status = lossk_ciou_loss_f64(p, t, n, fmt, eps, alpha, red, &loss, ln, g, n_threads)
            elif kind == BOX_EIOU:
                status = lossk_eiou_loss_f64(p, t, n, fmt, eps, option, red, &loss, ln, g, n_threads)
            elif kind == BOX_SIOU:
                status = lossk_siou_loss_f64(p, t, n, fmt, eps, option, red, &loss, ln, g, n_threads)
    check_status(status, -1)
    return loss


cdef object _wiou_loss(const floating[::1] pred, const floating[::1] target,
                       floating[::1] loss_none, floating[::1] grad, int64_t n, int box_format,
                       double eps, bint v3, double mean_iou_loss, double momentum, double alpha,
                       double delta, int reduction, int n_threads):
    cdef double loss = 0.0
    cdef double mean = mean_iou_loss
    cdef double *mean_ptr = &mean if v3 else NULL
    cdef lossk_status status
    with nogil:
        if floating is float:
            status = lossk_wiou_loss_f32(
                cptr(pred), cptr(target), n, <lossk_box_format>box_format, eps, mean_ptr, momentum,
                alpha, delta, <lossk_reduction>reduction, &loss, mptr(loss_none), mptr(grad),
                n_threads)
        else:
            status = lossk_wiou_loss_f64(
                cptr(pred), cptr(target), n, <lossk_box_format>box_format, eps, mean_ptr, momentum,
                alpha, delta, <lossk_reduction>reduction, &loss, mptr(loss_none), mptr(grad),
                n_threads)
    check_status(status, -1)
    return loss, mean


cdef object _box_iou(const floating[::1] boxes1, const floating[::1] boxes2, floating[::1] out,
                     int64_t n, int64_t m, int box_format, bint generalized, int n_threads):
    cdef lossk_status status
    cdef lossk_box_format fmt = <lossk_box_format>box_format
    with nogil:
        if floating is float:
            if generalized:
                status = lossk_generalized_box_iou_f32(cptr(boxes1), n, cptr(boxes2), m, fmt,
                                                       mptr(out), n_threads)
            else:
                status = lossk_box_iou_f32(cptr(boxes1), n, cptr(boxes2), m, fmt, mptr(out),
                                           n_threads)
        else:
            if generalized:
                status = lossk_generalized_box_iou_f64(cptr(boxes1), n, cptr(boxes2), m, fmt,
                                                       mptr(out), n_threads)
            else:
                status = lossk_box_iou_f64(cptr(boxes1), n, cptr(boxes2), m, fmt, mptr(out),
                                           n_threads)
    check_status(status, -1)


# The pointwise family entry: untyped data pointers of C-contiguous arrays of
# pred's dtype (checked here: a mismatch would be read as the wrong type).

cdef void *_data(object a, int typenum, str name) except? NULL:
    """The data of `a` (NULL when None or empty), which must be a C-contiguous
    ndarray of type `typenum`."""
    if a is None:
        return NULL
    if not cnp.PyArray_Check(a):
        raise TypeError(f"{name} must be a numpy.ndarray")
    cdef cnp.ndarray arr = <cnp.ndarray>a
    if cnp.PyArray_TYPE(arr) != typenum or not cnp.PyArray_IS_C_CONTIGUOUS(arr):
        raise ValueError(f"{name} must be a C-contiguous array of the prediction's dtype")
    return cnp.PyArray_DATA(arr) if cnp.PyArray_SIZE(arr) > 0 else NULL


cdef void _operand(lossk_operand *op, object spec, int typenum, str name) except *:
    """op from (array, inner, period), or absent for None."""
    if spec is None:
        op.data, op.inner, op.period = NULL, 1, 1
        return
    a, op.inner, op.period = spec
    op.data = _data(a, typenum, name)
    if op.data == NULL and cnp.PyArray_SIZE(<cnp.ndarray>a) == 0:
        op.inner = op.period = 1


def pointwise(bytes loss, pred, target, weight, aux, params, int64_t batch_size, int reduction,
              loss_none, grad, grad2, int n_threads):
    """lossk_pointwise(loss, ...): target, weight, aux are (array, inner, period) or
    None; params up to 8 floats. Returns the reduced loss (a double)."""
    cdef lossk_pointwise_args a
    cdef cnp.ndarray x = <cnp.ndarray?>pred
    cdef int typenum = cnp.PyArray_TYPE(x)
    cdef double value = 0.0
    cdef const char *name = loss
    cdef lossk_status status
    cdef int k
    if typenum == cnp.NPY_FLOAT32:
        a.dtype = LOSSK_DTYPE_F32
    elif typenum == cnp.NPY_FLOAT64:
        a.dtype = LOSSK_DTYPE_F64
    else:
        raise TypeError("pred must be float32 or float64")
    a.size = sizeof(lossk_pointwise_args)
    a.pred = _data(x, typenum, "pred")
    a.n = cnp.PyArray_SIZE(x)
    _operand(&a.target, target, typenum, "target")
    _operand(&a.weight, weight, typenum, "weight")
    _operand(&a.aux, aux, typenum, "aux")
    for k in range(8):
        a.param[k] = 0.0
    for k in range(len(params)):
        a.param[k] = params[k]
    a.batch_size = batch_size
    a.reduction = <lossk_reduction>reduction
    a.loss_out = &value
    a.loss_none = _data(loss_none, typenum, "loss_none")
    a.grad = _data(grad, typenum, "grad")
    a.grad2 = _data(grad2, typenum, "grad2")
    a.n_threads = n_threads
    a.bad_index = -1
    with nogil:
        status = lossk_pointwise(name, &a)
    check_status(status, a.bad_index)
    return value


# The def functions pick the specialisation from the dtypes themselves: cheaper
# than Cython's generic fused-def dispatcher, which cost microseconds per call.
# Arrays arrive 1-D, C-contiguous, native-endian, of the kernel's dtype (the
# Python API guarantees it; a mismatch raises ValueError from the memoryview).

def cross_entropy(logits, target, weight, loss_none, grad, int64_t n, int64_t c, int64_t inner,
                  int64_t ignore_index, double label_smoothing, int reduction, int n_threads):
    """Class-index cross-entropy; returns the reduced loss (a double; unused for "none")."""
    wide_index = target.dtype.itemsize == 8
    if logits.dtype.itemsize == 4:
        if wide_index:
            return _cross_entropy[float, int64_t](logits, target, weight, loss_none, grad, n, c, inner,
                                                  ignore_index, label_smoothing, reduction, n_threads)
        return _cross_entropy[float, int32_t](logits, target, weight, loss_none, grad, n, c, inner,
                                              ignore_index, label_smoothing, reduction, n_threads)
    if wide_index:
        return _cross_entropy[double, int64_t](logits, target, weight, loss_none, grad, n, c, inner,
                                               ignore_index, label_smoothing, reduction, n_threads)
    return _cross_entropy[double, int32_t](logits, target, weight, loss_none, grad, n, c, inner,
                                           ignore_index, label_smoothing, reduction, n_threads)


def cross_entropy_soft(logits, target, weight, loss_none, grad, int64_t n, int64_t c,
                       int64_t inner, double label_smoothing, int reduction, int n_threads):
    """Probability-target cross-entropy; returns the reduced loss."""
    if logits.dtype.itemsize == 4:
        return _cross_entropy_soft[float](logits, target, weight, loss_none, grad, n, c, inner,
                                          label_smoothing, reduction, n_threads)
    return _cross_entropy_soft[double](logits, target, weight, loss_none, grad, n, c, inner,
                                       label_smoothing, reduction, n_threads)


def softmax_focal_loss(logits, target, alpha, loss_none, grad, int64_t n, int64_t c, int64_t inner,
                       int64_t ignore_index, double gamma, int reduction, int n_threads):
    """Softmax focal loss (class indices); returns the reduced loss."""
    if logits.dtype.itemsize == 4:
        return _softmax_focal_loss[float](logits, target, alpha, loss_none, grad, n, c, inner,
                                          ignore_index, gamma, reduction, n_threads)
    return _softmax_focal_loss[double](logits, target, alpha, loss_none, grad, n, c, inner,
                                       ignore_index, gamma, reduction, n_threads)


def nll_loss(log_probs, target, weight, loss_none, grad, int64_t n, int64_t c, int64_t inner,
             int64_t ignore_index, int reduction, int n_threads):
    """Negative log-likelihood; returns the reduced loss."""
    if log_probs.dtype.itemsize == 4:
        return _nll_loss[float](log_probs, target, weight, loss_none, grad, n, c, inner, ignore_index,
                                reduction, n_threads)
    return _nll_loss[double](log_probs, target, weight, loss_none, grad, n, c, inner, ignore_index,
                             reduction, n_threads)


def multi_margin_loss(scores, target, weight, loss_none, grad, int64_t n, int64_t c, int p,
                      double margin, int reduction, int n_threads):
    """Multi-class margin loss; returns the reduced loss."""
    if scores.dtype.itemsize == 4:
        return _multi_margin_loss[float](scores, target, weight, loss_none, grad, n, c, p, margin,
                                         reduction, n_threads)
    return _multi_margin_loss[double](scores, target, weight, loss_none, grad, n, c, p, margin,
                                      reduction, n_threads)


# Elementwise losses: pred and target flattened (n = pred.size); broadcast
# operands (weight, pos_weight) come with their (inner, period) pattern.

def sigmoid_focal_loss(logits, target, loss_none, grad, double alpha, double gamma, int reduction,
                       int n_threads):
    """Sigmoid focal loss; returns the reduced loss."""
    if logits.dtype.itemsize == 4:
        return _sigmoid_focal_loss[float](logits, target, loss_none, grad, alpha, gamma, reduction,
                                          n_threads)
    return _sigmoid_focal_loss[double](logits, target, loss_none, grad, alpha, gamma, reduction,
                                       n_threads)


def binary_cross_entropy(probs, target, weight, int64_t weight_inner, int64_t weight_period,
                         loss_none, grad, int reduction, int n_threads):
    """Binary cross-entropy on probabilities; returns the reduced loss."""
    if probs.dtype.itemsize == 4:
        return _binary_cross_entropy[float](probs, target, weight, weight_inner, weight_period,
                                            loss_none, grad, reduction, n_threads)
    return _binary_cross_entropy[double](probs, target, weight, weight_inner, weight_period,
                                         loss_none, grad, reduction, n_threads)


def binary_cross_entropy_with_logits(logits, target, weight, int64_t weight_inner,
                                     int64_t weight_period, pos_weight, int64_t pos_weight_inner,
                                     int64_t pos_weight_period, loss_none, grad, int reduction,
                                     int n_threads):
    """Binary cross-entropy on logits; returns the reduced loss."""
    if logits.dtype.itemsize == 4:
        return _binary_cross_entropy_with_logits[float](
            logits, target, weight, weight_inner, weight_period, pos_weight, pos_weight_inner,
            pos_weight_period, loss_none, grad, reduction, n_threads)
    return _binary_cross_entropy_with_logits[double](
        logits, target, weight, weight_inner, weight_period, pos_weight, pos_weight_inner,
        pos_weight_period, loss_none, grad, reduction, n_threads)


def hinge_loss(scores, target, loss_none, grad, double margin, bint squared, int reduction,
               int n_threads):
    """Binary hinge loss; returns the reduced loss."""
    if scores.dtype.itemsize == 4:
        return _hinge_loss[float](scores, target, loss_none, grad, margin, squared, reduction, n_threads)
    return _hinge_loss[double](scores, target, loss_none, grad, margin, squared, reduction, n_threads)


def kl_div(log_input, target, loss_none, grad, int64_t batch_size, bint log_target, int reduction,
           int n_threads):
    """Kullback-Leibler divergence; returns the reduced loss."""
    if log_input.dtype.itemsize == 4:
        return _kl_div[float](log_input, target, loss_none, grad, batch_size, log_target, reduction,
                              n_threads)
    return _kl_div[double](log_input, target, loss_none, grad, batch_size, log_target, reduction,
                           n_threads)


def box_loss(int kind, pred, target, loss_none, grad, int64_t n, int box_format, double eps,
             double option, int reduction, int n_threads):
    """An IoU-family loss (kind: BOX_KINDS) over n boxes; returns the reduced loss."""
    if pred.dtype.itemsize == 4:
        return _box_loss[float](kind, pred, target, loss_none, grad, n, box_format, eps, option,
                                reduction, n_threads)
    return _box_loss[double](kind, pred, target, loss_none, grad, n, box_format, eps, option,
                             reduction, n_threads)


def wiou_loss(pred, target, loss_none, grad, int64_t n, int box_format, double eps, bint v3,
              double mean_iou_loss, double momentum, double alpha, double delta, int reduction,
              int n_threads):
    """Wise-IoU v1 (v3 false) or v3; returns (reduced loss, running mean after the call)."""
    if pred.dtype.itemsize == 4:
        return _wiou_loss[float](pred, target, loss_none, grad, n, box_format, eps, v3,
                                 mean_iou_loss, momentum, alpha, delta, reduction, n_threads)
    return _wiou_loss[double](pred, target, loss_none, grad, n, box_format, eps, v3,
                              mean_iou_loss, momentum, alpha, delta, reduction, n_threads)


def box_iou(boxes1, boxes2, out, int64_t n, int64_t m, int box_format, bint generalized,
            int n_threads):
    """Pairwise (generalized) IoU of n and m boxes into out (n x m)."""
    if boxes1.dtype.itemsize == 4:
        _box_iou[float](boxes1, boxes2, out, n, m, box_format, generalized, n_threads)
    else:
        _box_iou[double](boxes1, boxes2, out, n, m, box_format, generalized, n_threads)


def build_info():
    """What the C library reports about itself (lossk.show_config prints it)."""
    return {
        "version": lossk_version_string().decode(),
        "version_number": lossk_version_number(),
        "openmp": bool(lossk_has_openmp()),
        "default_threads": lossk_default_threads(),
        "simd_active": lossk_simd_level_name(lossk_simd_level_active()).decode(),
        "simd_compiled": lossk_simd_level_name(lossk_simd_level_compiled()).decode(),
        "build": lossk_build_info().decode(),
    }
