# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Bridge to the C library (csrc/include/lossk.h).

Only this: typed memoryviews in, one `nogil` call, status code -> exception.
Validation, dtype/layout policy and output allocation live in the Python API;
arrays arrive here flattened, C-contiguous and of the kernel's dtype.
"""
from cython cimport floating
from libc.stdint cimport int32_t, int64_t


cdef extern from "lossk.h" nogil:
    ctypedef enum lossk_status:
        LOSSK_OK
        LOSSK_ERR_INVALID_ARGUMENT
        LOSSK_ERR_TARGET_RANGE
        LOSSK_ERR_NO_MEMORY
        LOSSK_ERR_ALIASING
    ctypedef enum lossk_reduction:
        pass
    ctypedef enum lossk_index_type:
        LOSSK_INDEX_INT32
        LOSSK_INDEX_INT64
    ctypedef enum lossk_simd_level:
        pass

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

    ctypedef enum lossk_box_format:
        pass
    ctypedef enum lossk_ciou_alpha:
        pass
    lossk_status lossk_iou_loss_f32(const float *pred, const float *target, int64_t n, lossk_box_format format, double eps, lossk_reduction reduction, double *loss_out, float *loss_none, float *grad, int n_threads)
    lossk_status lossk_iou_loss_f64(const double *pred, const double *target, int64_t n, lossk_box_format format, double eps, lossk_reduction reduction, double *loss_out, double *loss_none, double *grad, int n_threads)
    lossk_status lossk_giou_loss_f32(const float *pred, const float *target, int64_t n, lossk_box_format format, double eps, lossk_reduction reduction, double *loss_out, float *loss_none, float *grad, int n_threads)
    lossk_status lossk_giou_loss_f64(const double *pred, const double *target, int64_t n, lossk_box_format format, double eps, lossk_reduction reduction, double *loss_out, double *loss_none, double *grad, int n_threads)
    lossk_status lossk_diou_loss_f32(const float *pred, const float *target, int64_t n, lossk_box_format format, double eps, lossk_reduction reduction, double *loss_out, float *loss_none, float *grad, int n_threads)
    lossk_status lossk_diou_loss_f64(const double *pred, const double *target, int64_t n, lossk_box_format format, double eps, lossk_reduction reduction, double *loss_out, double *loss_none, double *grad, int n_threads)
    lossk_status lossk_ciou_loss_f32(const float *pred, const float *target, int64_t n, lossk_box_format format, double eps, lossk_ciou_alpha alpha, lossk_reduction reduction, double *loss_out, float *loss_none, float *grad, int n_threads)
    lossk_status lossk_ciou_loss_f64(const double *pred, const double *target, int64_t n, lossk_box_format format, double eps, lossk_ciou_alpha alpha, lossk_reduction reduction, double *loss_out, double *loss_none, double *grad, int n_threads)
    lossk_status lossk_eiou_loss_f32(const float *pred, const float *target, int64_t n, lossk_box_format format, double eps, double focal_gamma, lossk_reduction reduction, double *loss_out, float *loss_none, float *grad, int n_threads)
    lossk_status lossk_eiou_loss_f64(const double *pred, const double *target, int64_t n, lossk_box_format format, double eps, double focal_gamma, lossk_reduction reduction, double *loss_out, double *loss_none, double *grad, int n_threads)
    lossk_status lossk_siou_loss_f32(const float *pred, const float *target, int64_t n, lossk_box_format format, double eps, double theta, lossk_reduction reduction, double *loss_out, float *loss_none, float *grad, int n_threads)
    lossk_status lossk_siou_loss_f64(const double *pred, const double *target, int64_t n, lossk_box_format format, double eps, double theta, lossk_reduction reduction, double *loss_out, double *loss_none, double *grad, int n_threads)
    lossk_status lossk_wiou_loss_f32(const float *pred, const float *target, int64_t n, lossk_box_format format, double eps, double *mean_iou_loss, double momentum, double alpha, double delta, lossk_reduction reduction, double *loss_out, float *loss_none, float *grad, int n_threads)
    lossk_status lossk_wiou_loss_f64(const double *pred, const double *target, int64_t n, lossk_box_format format, double eps, double *mean_iou_loss, double momentum, double alpha, double delta, lossk_reduction reduction, double *loss_out, double *loss_none, double *grad, int n_threads)
    lossk_status lossk_box_iou_f32(const float *boxes1, int64_t n, const float *boxes2, int64_t m, lossk_box_format format, float *out, int n_threads)
    lossk_status lossk_box_iou_f64(const double *boxes1, int64_t n, const double *boxes2, int64_t m, lossk_box_format format, double *out, int n_threads)
    lossk_status lossk_generalized_box_iou_f32(const float *boxes1, int64_t n, const float *boxes2, int64_t m, lossk_box_format format, float *out, int n_threads)
    lossk_status lossk_generalized_box_iou_f64(const double *boxes1, int64_t n, const double *boxes2, int64_t m, lossk_box_format format, double *out, int n_threads)

class TargetIndexError(ValueError):
    """A class index outside [0, C) that is not ignore_index; `.position` is
    its flat position in the target array (the API turns it into a message)."""

    def __init__(self, position):
        super().__init__("class index out of range at flat position %d" % position)
        self.position = position


cdef int check_status(lossk_status status, int64_t bad_index) except -1:
    if status == LOSSK_OK:
        return 0
    if status == LOSSK_ERR_TARGET_RANGE:
        raise TargetIndexError(bad_index)
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


def cross_entropy(const floating[::1] logits, const index_t[::1] target,
                  const floating[::1] weight, floating[::1] loss_none, floating[::1] grad,
                  int64_t n, int64_t c, int64_t inner, int64_t ignore_index,
                  double label_smoothing, int reduction, int n_threads):
    """Class-index cross-entropy; returns the reduced loss (a double; unused for "none")."""
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


def cross_entropy_soft(const floating[::1] logits, const floating[::1] target,
                       const floating[::1] weight, floating[::1] loss_none, floating[::1] grad,
                       int64_t n, int64_t c, int64_t inner, double label_smoothing,
                       int reduction, int n_threads):
    """Probability-target cross-entropy; returns the reduced loss."""
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


# The box losses without state; `option` of box_loss is CIoU's alpha mode
# (0 torchvision, 1 yolo), EIoU's focal_gamma (0: none) or SIoU's theta.
cdef enum box_kind:
    BOX_IOU, BOX_GIOU, BOX_DIOU, BOX_CIOU, BOX_EIOU, BOX_SIOU

BOX_KINDS = {"iou": BOX_IOU, "giou": BOX_GIOU, "diou": BOX_DIOU, "ciou": BOX_CIOU,
             "eiou": BOX_EIOU, "siou": BOX_SIOU}


def box_loss(int kind, const floating[::1] pred, const floating[::1] target,
             floating[::1] loss_none, floating[::1] grad, int64_t n, int box_format,
             double eps, double option, int reduction, int n_threads):
    """An IoU-family loss over n boxes; returns the reduced loss."""
    cdef double loss = 0.0
    cdef lossk_status status = LOSSK_ERR_INVALID_ARGUMENT
    cdef lossk_box_format fmt = <lossk_box_format>box_format
    cdef lossk_reduction red = <lossk_reduction>reduction
    with nogil:
        if floating is float:
            if kind == BOX_IOU:
                status = lossk_iou_loss_f32(cptr(pred), cptr(target), n, fmt, eps, red, &loss, mptr(loss_none), mptr(grad), n_threads)
            elif kind == BOX_GIOU:
                status = lossk_giou_loss_f32(cptr(pred), cptr(target), n, fmt, eps, red, &loss, mptr(loss_none), mptr(grad), n_threads)
            elif kind == BOX_DIOU:
                status = lossk_diou_loss_f32(cptr(pred), cptr(target), n, fmt, eps, red, &loss, mptr(loss_none), mptr(grad), n_threads)
            elif kind == BOX_CIOU:
                status = lossk_ciou_loss_f32(cptr(pred), cptr(target), n, fmt, eps, <lossk_ciou_alpha><int>option, red, &loss, mptr(loss_none), mptr(grad), n_threads)
            elif kind == BOX_EIOU:
                status = lossk_eiou_loss_f32(cptr(pred), cptr(target), n, fmt, eps, option, red, &loss, mptr(loss_none), mptr(grad), n_threads)
            elif kind == BOX_SIOU:
                status = lossk_siou_loss_f32(cptr(pred), cptr(target), n, fmt, eps, option, red, &loss, mptr(loss_none), mptr(grad), n_threads)
        else:
            if kind == BOX_IOU:
                status = lossk_iou_loss_f64(cptr(pred), cptr(target), n, fmt, eps, red, &loss, mptr(loss_none), mptr(grad), n_threads)
            elif kind == BOX_GIOU:
                status = lossk_giou_loss_f64(cptr(pred), cptr(target), n, fmt, eps, red, &loss, mptr(loss_none), mptr(grad), n_threads)
            elif kind == BOX_DIOU:
                status = lossk_diou_loss_f64(cptr(pred), cptr(target), n, fmt, eps, red, &loss, mptr(loss_none), mptr(grad), n_threads)
            elif kind == BOX_CIOU:
                status = lossk_ciou_loss_f64(cptr(pred), cptr(target), n, fmt, eps, <lossk_ciou_alpha><int>option, red, &loss, mptr(loss_none), mptr(grad), n_threads)
            elif kind == BOX_EIOU:
                status = lossk_eiou_loss_f64(cptr(pred), cptr(target), n, fmt, eps, option, red, &loss, mptr(loss_none), mptr(grad), n_threads)
            elif kind == BOX_SIOU:
                status = lossk_siou_loss_f64(cptr(pred), cptr(target), n, fmt, eps, option, red, &loss, mptr(loss_none), mptr(grad), n_threads)
    check_status(status, -1)
    return loss


def wiou_loss(const floating[::1] pred, const floating[::1] target, floating[::1] loss_none,
              floating[::1] grad, int64_t n, int box_format, double eps, bint v3,
              double mean_iou_loss, double momentum, double alpha, double delta,
              int reduction, int n_threads):
    """Wise-IoU v1 (v3 false) or v3; returns (reduced loss, running mean after the call)."""
    cdef double loss = 0.0
    cdef double mean = mean_iou_loss
    cdef double *mean_ptr = &mean if v3 else NULL
    cdef lossk_status status
    with nogil:
        if floating is float:
            status = lossk_wiou_loss_f32(cptr(pred), cptr(target), n, <lossk_box_format>box_format, eps,
                                         mean_ptr, momentum, alpha, delta, <lossk_reduction>reduction,
                                         &loss, mptr(loss_none), mptr(grad), n_threads)
        else:
            status = lossk_wiou_loss_f64(cptr(pred), cptr(target), n, <lossk_box_format>box_format, eps,
                                         mean_ptr, momentum, alpha, delta, <lossk_reduction>reduction,
                                         &loss, mptr(loss_none), mptr(grad), n_threads)
    check_status(status, -1)
    return loss, mean


def box_iou(const floating[::1] boxes1, const floating[::1] boxes2, floating[::1] out,
            int64_t n, int64_t m, int box_format, bint generalized, int n_threads):
    """Pairwise (generalized) IoU of n and m boxes into out (n x m)."""
    cdef lossk_status status
    with nogil:
        if floating is float:
            if generalized:
                status = lossk_generalized_box_iou_f32(cptr(boxes1), n, cptr(boxes2), m, <lossk_box_format>box_format, mptr(out), n_threads)
            else:
                status = lossk_box_iou_f32(cptr(boxes1), n, cptr(boxes2), m, <lossk_box_format>box_format, mptr(out), n_threads)
        else:
            if generalized:
                status = lossk_generalized_box_iou_f64(cptr(boxes1), n, cptr(boxes2), m, <lossk_box_format>box_format, mptr(out), n_threads)
            else:
                status = lossk_box_iou_f64(cptr(boxes1), n, cptr(boxes2), m, <lossk_box_format>box_format, mptr(out), n_threads)
    check_status(status, -1)


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
