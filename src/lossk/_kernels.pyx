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
        int p, double margin, const float *class_weight,
        lossk_reduction reduction, double *loss_out, float *loss_none, float *grad,
        int n_threads, int64_t *bad_index)
    lossk_status lossk_multi_margin_loss_f64(
        const double *scores, int64_t n, int64_t c,
        const void *target, lossk_index_type target_type,
        int p, double margin, const double *class_weight,
        lossk_reduction reduction, double *loss_out, double *loss_none, double *grad,
        int n_threads, int64_t *bad_index)


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


cdef inline const void *index_ptr(const index_t[::1] t) noexcept nogil:
    return &t[0] if t.shape[0] > 0 else NULL


cdef inline lossk_index_type index_type(const index_t[::1] t) noexcept nogil:
    return LOSSK_INDEX_INT64 if index_t is int64_t else LOSSK_INDEX_INT32


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


def softmax_focal_loss(const floating[::1] logits, const index_t[::1] target,
                       const floating[::1] alpha, floating[::1] loss_none, floating[::1] grad,
                       int64_t n, int64_t c, int64_t inner, int64_t ignore_index, double gamma,
                       int reduction, int n_threads):
    """Softmax focal loss (class indices); returns the reduced loss."""
    cdef double loss = 0.0
    cdef int64_t bad = -1
    cdef lossk_status status
    cdef const void *tptr = index_ptr(target)
    cdef lossk_index_type ttype = index_type(target)
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


def nll_loss(const floating[::1] log_probs, const index_t[::1] target,
             const floating[::1] weight, floating[::1] loss_none, floating[::1] grad,
             int64_t n, int64_t c, int64_t inner, int64_t ignore_index,
             int reduction, int n_threads):
    """Negative log-likelihood; returns the reduced loss."""
    cdef double loss = 0.0
    cdef int64_t bad = -1
    cdef lossk_status status
    cdef const void *tptr = index_ptr(target)
    cdef lossk_index_type ttype = index_type(target)
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


def multi_margin_loss(const floating[::1] scores, const index_t[::1] target,
                      const floating[::1] weight, floating[::1] loss_none, floating[::1] grad,
                      int64_t n, int64_t c, int p, double margin, int reduction, int n_threads):
    """Multi-class margin loss; returns the reduced loss."""
    cdef double loss = 0.0
    cdef int64_t bad = -1
    cdef lossk_status status
    cdef const void *tptr = index_ptr(target)
    cdef lossk_index_type ttype = index_type(target)
    with nogil:
        if floating is float:
            status = lossk_multi_margin_loss_f32(
                cptr(scores), n, c, tptr, ttype, p, margin, cptr(weight),
                <lossk_reduction>reduction, &loss, mptr(loss_none), mptr(grad), n_threads, &bad)
        else:
            status = lossk_multi_margin_loss_f64(
                cptr(scores), n, c, tptr, ttype, p, margin, cptr(weight),
                <lossk_reduction>reduction, &loss, mptr(loss_none), mptr(grad), n_threads, &bad)
    check_status(status, bad)
    return loss


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
