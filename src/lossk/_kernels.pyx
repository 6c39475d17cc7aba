# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Bridge to the C library (csrc/include/lossk.h).

Only this: arrays in (untyped pointers for the family entries, checked here
for dtype and layout through NumPy's C API; typed memoryviews for the older
typed entries), one `nogil` call, status code -> exception. Validation,
dtype/layout policy and output allocation live in the Python API; arrays
arrive here flattened, C-contiguous and of the kernel's dtype.
"""
cimport numpy as cnp
from cython cimport floating
from libc.stdint cimport int64_t, uint8_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset

cnp.import_array()


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
    ctypedef enum lossk_dtype:
        LOSSK_DTYPE_F32
        LOSSK_DTYPE_F64
    ctypedef enum lossk_simd_level:
        pass
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

    ctypedef struct lossk_class_args:
        size_t size
        lossk_dtype dtype
        const void *pred
        int64_t n
        int64_t c
        int64_t inner
        const void *target
        lossk_index_type target_type
        int soft_target
        const void *target_probs
        const void *class_weight
        int64_t ignore_index
        double label_smoothing
        double gamma
        int p
        double margin
        lossk_reduction reduction
        double *loss_out
        void *loss_none
        void *grad
        int n_threads
        int64_t bad_index
    lossk_status lossk_softmax_loss(const char *loss, lossk_class_args *args)
    lossk_status lossk_class_index_loss(const char *loss, lossk_class_args *args)
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
    lossk_status lossk_penalty(
        const char *penalty, lossk_dtype dtype, int64_t n_arrays, const void *const *arrays,
        const int64_t *sizes, double lam, double *loss_out, void *const *grads, int accumulate,
        int n_threads)
    ctypedef struct lossk_segmentation_args:
        size_t size
        lossk_dtype dtype
        const void *pred
        int64_t n, c, inner
        const void *target
        int index_target
        lossk_index_type target_type
        int from_logits
        int has_ignore
        int64_t ignore_index
        double smooth, eps, alpha, beta, gamma
        int per_image
        lossk_reduction reduction
        double *loss_out
        void *loss_none
        const double *upstream
        void *grad
        int n_threads
        int64_t bad_index
    lossk_status lossk_segmentation(const char *loss, lossk_segmentation_args *args)
    ctypedef struct lossk_crf_args:
        size_t size
        lossk_dtype dtype
        const void *emissions
        int64_t batch, steps, num_tags
        const void *tags
        lossk_index_type tags_type
        const int64_t *lengths
        const void *transitions
        const void *start_transitions
        const void *end_transitions
        lossk_reduction reduction
        double *loss_out
        void *loss_none
        void *grad_emissions
        void *grad_transitions
        void *grad_start
        void *grad_end
        int64_t *paths
        int n_threads
        int64_t bad_index
        const double *upstream
    lossk_status lossk_crf(const char *op, lossk_crf_args *args)
    ctypedef struct lossk_metric_args:
        size_t size
        lossk_dtype dtype
        const void *anchor
        const void *positive
        const void *negative
        int64_t n, d
        double margin, p, eps
        int swap
        lossk_reduction reduction
        double *loss_out
        void *loss_none
        void *grad_anchor
        void *grad_positive
        void *grad_negative
        int n_threads
    lossk_status lossk_metric(const char *loss, const lossk_metric_args *args)
    ctypedef struct lossk_contrastive_rows_args:
        size_t size
        lossk_dtype dtype
        void *sim
        int64_t rows, cols, row0
        double inv_temperature
        int64_t pos_shift
        int exclude_self
        const double *extra
        const double *weight
        double *loss
        double *extra_grad
        int grad
        int n_threads
    lossk_status lossk_contrastive_rows(const lossk_contrastive_rows_args *args)
    ctypedef enum lossk_box_format:
        pass
    ctypedef struct lossk_box_args:
        size_t size
        lossk_dtype dtype
        const void *pred
        const void *target
        int64_t n
        lossk_box_format format
        double eps
        double option
        double *mean_iou_loss
        double momentum
        double alpha
        double delta
        lossk_reduction reduction
        double *loss_out
        void *loss_none
        void *grad
        int n_threads
    lossk_status lossk_box_loss(const char *loss, const lossk_box_args *args)
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
    ctypedef struct lossk_listwise_args:
        size_t size
        lossk_dtype dtype
        const void *scores
        const void *relevance
        const uint8_t *mask
        int64_t b
        int64_t l
        double alpha
        double eps
        lossk_reduction reduction
        double *loss_out
        void *loss_none
        void *grad
        int n_threads
    lossk_status lossk_listwise(const char *loss, const lossk_listwise_args *args)


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


cdef lossk_dtype array_dtype(object pred) except *:
    """The family entries' dtype code of a float32 or float64 prediction."""
    cdef int typenum = cnp.PyArray_TYPE(<cnp.ndarray?>pred)
    if typenum == cnp.NPY_FLOAT32:
        return LOSSK_DTYPE_F32
    if typenum == cnp.NPY_FLOAT64:
        return LOSSK_DTYPE_F64
    raise TypeError("lossk: the prediction must be float32 or float64")


cdef void *array_data(object a, lossk_dtype dtype, bint writeable) except? NULL:
    """The data of a C-contiguous, aligned, native array of `dtype` (None, or no
    elements: NULL). The family entries take untyped pointers, so the dtype and
    layout are checked here, where a memoryview would have checked them."""
    if a is None:
        return NULL
    cdef cnp.ndarray arr = <cnp.ndarray?>a
    cdef int want = cnp.NPY_FLOAT32 if dtype == LOSSK_DTYPE_F32 else cnp.NPY_FLOAT64
    if (cnp.PyArray_TYPE(arr) != want or not cnp.PyArray_ISCARRAY_RO(arr) or
            not cnp.PyArray_ISNOTSWAPPED(arr) or (writeable and not cnp.PyArray_ISWRITEABLE(arr))):
        raise ValueError("lossk: an array of the wrong dtype or layout reached the bridge")
    return cnp.PyArray_DATA(arr) if cnp.PyArray_SIZE(arr) > 0 else NULL


cdef const void *index_data(object target, lossk_index_type *ttype) except? NULL:
    """Data pointer (NULL when empty) and type of a C-contiguous native int32 or
    int64 array of class indices; the caller keeps `target` alive."""
    cdef cnp.ndarray t = <cnp.ndarray?>target
    cdef int typenum = cnp.PyArray_TYPE(t)
    if typenum != cnp.NPY_INT64 and typenum != cnp.NPY_INT32:
        raise ValueError("lossk: class indices must be int32 or int64")
    if not cnp.PyArray_ISCARRAY_RO(t) or not cnp.PyArray_ISNOTSWAPPED(t):
        raise ValueError("lossk: an array of the wrong layout reached the bridge")
    ttype[0] = LOSSK_INDEX_INT64 if typenum == cnp.NPY_INT64 else LOSSK_INDEX_INT32
    return cnp.PyArray_DATA(t) if cnp.PyArray_SIZE(t) > 0 else NULL



# Empty arrays have no element 0 to take the address of.
cdef inline const floating *cptr(const floating[::1] a) noexcept nogil:
    return &a[0] if a is not None and a.shape[0] > 0 else NULL


cdef inline floating *mptr(floating[::1] a) noexcept nogil:
    return &a[0] if a is not None and a.shape[0] > 0 else NULL


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

def class_loss(str family, bytes loss, pred, target, weight, loss_none, grad, int64_t n, int64_t c,
               int64_t inner, int64_t ignore_index, double label_smoothing, double gamma, int p,
               double margin, int reduction, int n_threads):
    """A loss of the softmax or class-index family (lossk_softmax_loss,
    lossk_class_index_loss) by name; target: int32/int64 class indices, or
    cross_entropy's probabilities (pred's dtype). Returns the reduced loss."""
    cdef lossk_class_args a
    cdef double loss_value = 0.0
    cdef const char *cname = loss
    cdef bint softmax = family == "softmax"
    cdef lossk_status status
    cdef int ttype = cnp.PyArray_TYPE(<cnp.ndarray?>target)
    memset(&a, 0, sizeof(a))
    a.size = sizeof(a)
    a.dtype = array_dtype(pred)
    a.pred = array_data(pred, a.dtype, False)
    a.n, a.c, a.inner = n, c, inner
    if ttype == cnp.NPY_INT64 or ttype == cnp.NPY_INT32:
        a.target = index_data(target, &a.target_type)
    else:
        a.soft_target = 1
        a.target_probs = array_data(target, a.dtype, False)
    a.class_weight = array_data(weight, a.dtype, False)
    a.ignore_index, a.label_smoothing, a.gamma, a.p, a.margin = ignore_index, label_smoothing, gamma, p, margin
    a.reduction, a.loss_out, a.n_threads = <lossk_reduction>reduction, &loss_value, n_threads
    a.loss_none = array_data(loss_none, a.dtype, True)
    a.grad = array_data(grad, a.dtype, True)
    with nogil:
        status = lossk_softmax_loss(cname, &a) if softmax else lossk_class_index_loss(cname, &a)
    check_status(status, a.bad_index)
    return loss_value


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


def box_loss(bytes loss, pred, target, loss_none, grad, int64_t n, int box_format, double eps,
             double option, mean_iou_loss, double momentum, double alpha, double delta, int reduction,
             int n_threads):
    """A box loss by name (lossk_box_loss): option is CIoU's alpha code, EIoU's
    focal_gamma (0: none) or SIoU's theta; mean_iou_loss None (Wise-IoU v1) or
    v3's running mean. Returns (reduced loss, running mean after the call)."""
    cdef lossk_box_args a
    cdef double loss_value = 0.0, mean = 0.0 if mean_iou_loss is None else mean_iou_loss
    cdef const char *cname = loss
    cdef lossk_status status
    memset(&a, 0, sizeof(a))
    a.size = sizeof(a)
    a.dtype = array_dtype(pred)
    a.pred = array_data(pred, a.dtype, False)
    a.target = array_data(target, a.dtype, False)
    a.n, a.format, a.eps, a.option = n, <lossk_box_format>box_format, eps, option
    a.mean_iou_loss = NULL if mean_iou_loss is None else &mean
    a.momentum, a.alpha, a.delta = momentum, alpha, delta
    a.reduction, a.loss_out, a.n_threads = <lossk_reduction>reduction, &loss_value, n_threads
    a.loss_none = array_data(loss_none, a.dtype, True)
    a.grad = array_data(grad, a.dtype, True)
    with nogil:
        status = lossk_box_loss(cname, &a)
    check_status(status, -1)
    return loss_value, mean


def box_iou(boxes1, boxes2, out, int64_t n, int64_t m, int box_format, bint generalized,
            int n_threads):
    """Pairwise (generalized) IoU of n and m boxes into out (n x m)."""
    if boxes1.dtype.itemsize == 4:
        _box_iou[float](boxes1, boxes2, out, n, m, box_format, generalized, n_threads)
    else:
        _box_iou[double](boxes1, boxes2, out, n, m, box_format, generalized, n_threads)


def penalty(bytes name, list arrays, list grads, double lam, bint accumulate, int n_threads):
    """l1_penalty / l2_penalty (`name`) over a list of C-contiguous arrays of one
    float dtype; `grads`: None or one output per array. Returns the loss."""
    cdef Py_ssize_t n = len(arrays), i
    cdef const char *cname = name
    cdef lossk_dtype dtype = LOSSK_DTYPE_F32
    cdef double loss = 0.0
    cdef lossk_status status
    cdef const void **ptrs = <const void **>malloc((n + 1) * sizeof(void *))
    cdef void **gptrs = <void **>malloc((n + 1) * sizeof(void *)) if grads is not None else NULL
    cdef int64_t *sizes = <int64_t *>malloc((n + 1) * sizeof(int64_t))
    if ptrs == NULL or sizes == NULL or (grads is not None and gptrs == NULL):
        free(ptrs); free(gptrs); free(sizes)
        raise MemoryError()
    try:
        for i in range(n):
            ptrs[i] = cnp.PyArray_DATA(<cnp.ndarray>arrays[i])
            sizes[i] = cnp.PyArray_SIZE(<cnp.ndarray>arrays[i])
            if gptrs != NULL:
                gptrs[i] = cnp.PyArray_DATA(<cnp.ndarray>grads[i])
        if n and arrays[0].dtype.itemsize == 8:
            dtype = LOSSK_DTYPE_F64
        with nogil:
            status = lossk_penalty(cname, dtype, n, ptrs, sizes, lam, &loss, gptrs, accumulate,
                                   n_threads)
        check_status(status, -1)
    finally:
        free(ptrs); free(gptrs); free(sizes)
    return loss


def listwise(bytes loss, scores, relevance, mask, double alpha, double eps, int reduction, loss_none,
             grad, int n_threads):
    """A listwise loss by name (lossk_listwise) over (b, l) scores and relevance
    of one dtype; mask None or a (b, l) uint8 array. Returns the reduced loss."""
    cdef lossk_listwise_args a
    cdef double value = 0.0
    cdef const char *cname = loss
    cdef lossk_status status
    cdef cnp.ndarray x = <cnp.ndarray?>scores
    memset(&a, 0, sizeof(a))
    a.size = sizeof(a)
    a.dtype = array_dtype(x)
    a.scores = array_data(x, a.dtype, False)
    a.relevance = array_data(relevance, a.dtype, False)
    if mask is not None:
        if cnp.PyArray_TYPE(<cnp.ndarray?>mask) != cnp.NPY_UINT8 or not cnp.PyArray_ISCARRAY_RO(mask):
            raise ValueError("lossk: the mask must reach the bridge as a C-contiguous uint8 array")
        a.mask = <const uint8_t *>cnp.PyArray_DATA(mask) if cnp.PyArray_SIZE(mask) > 0 else NULL
    a.b, a.l = cnp.PyArray_DIM(x, 0), cnp.PyArray_DIM(x, 1)
    a.alpha, a.eps = alpha, eps
    a.reduction, a.loss_out, a.n_threads = <lossk_reduction>reduction, &value, n_threads
    a.loss_none = array_data(loss_none, a.dtype, True)
    a.grad = array_data(grad, a.dtype, True)
    with nogil:
        status = lossk_listwise(cname, &a)
    check_status(status, -1)
    return value


def openmp_default_threads():
    """The OpenMP runtime's thread default for the calling thread (omp_get_max_threads:
    OMP_NUM_THREADS, omp_set_num_threads as threadpoolctl calls it, else the CPUs)."""
    return lossk_default_threads()


cdef extern from "lossk.h" nogil:
    void lossk_block_sums_record(int on)
    int64_t lossk_block_sums(double *out, int64_t cap)


def block_sums_record(bint on):
    """Start (True) or stop (False) recording, for this thread, the per-block sums
    of the kernels' one-accumulator reductions (lossk.h: lossk_block_sums)."""
    lossk_block_sums_record(on)


def block_sums():
    """The block sums recorded last on this thread (float64), or None."""
    cdef int64_t n = lossk_block_sums(NULL, 0)
    if n < 0:
        return None
    cdef cnp.npy_intp dims = n
    cdef cnp.ndarray out = cnp.PyArray_EMPTY(1, &dims, cnp.NPY_FLOAT64, 0)
    lossk_block_sums(<double *>cnp.PyArray_DATA(out), n)
    return out


def segmentation(bytes loss, pred, target, loss_none, grad, int64_t n, int64_t c, int64_t inner,
                 bint from_logits, bint has_ignore, int64_t ignore_index, double smooth, double eps,
                 double alpha, double beta, double gamma, bint per_image, int reduction, int n_threads,
                 upstream):
    """dice_loss / tversky_loss (lossk_segmentation) by name; target: int32/int64
    class indices ("multiclass") or masks of pred's dtype; upstream None or the
    "none" losses' float64 weights. Returns the reduced loss."""
    cdef lossk_segmentation_args a
    cdef double loss_value = 0.0
    cdef const char *cname = loss
    cdef lossk_status status
    cdef int ttype = cnp.PyArray_TYPE(<cnp.ndarray?>target)
    memset(&a, 0, sizeof(a))
    a.size = sizeof(a)
    a.dtype = array_dtype(pred)
    a.pred = array_data(pred, a.dtype, False)
    a.n, a.c, a.inner = n, c, inner
    if ttype == cnp.NPY_INT64 or ttype == cnp.NPY_INT32:
        a.index_target = 1
        a.target = index_data(target, &a.target_type)
    else:
        a.target = array_data(target, a.dtype, False)
    a.from_logits, a.has_ignore, a.ignore_index = from_logits, has_ignore, ignore_index
    a.smooth, a.eps, a.alpha, a.beta, a.gamma, a.per_image = smooth, eps, alpha, beta, gamma, per_image
    a.reduction, a.loss_out, a.n_threads = <lossk_reduction>reduction, &loss_value, n_threads
    a.loss_none = array_data(loss_none, a.dtype, True)
    a.grad = array_data(grad, a.dtype, True)
    a.upstream = <const double *>array_data(upstream, LOSSK_DTYPE_F64, False)
    with nogil:
        status = lossk_segmentation(cname, &a)
    check_status(status, a.bad_index)
    return loss_value


def crf(bytes op, emissions, tags, lengths, transitions, start, end, int reduction, loss_none,
        grads, paths, int n_threads, upstream=None):
    """lossk_crf(op, ...): emissions (B, T, K) and the transitions of one float
    dtype, tags (B, T) int32/int64 or None (decode), lengths (B,) int64 or None
    (all T), grads None or 4 outputs, paths (B, T) int64 or None, upstream
    (B,) float64 or None. Returns the reduced loss (a double; "none" fills loss_none)."""
    cdef lossk_crf_args a
    cdef cnp.ndarray em = <cnp.ndarray?>emissions
    cdef int typenum = cnp.PyArray_TYPE(em)
    cdef double value = 0.0
    cdef const char *name = op
    cdef lossk_status status
    memset(&a, 0, sizeof(a))
    a.size = sizeof(a)
    a.dtype = array_dtype(em)
    a.batch, a.steps, a.num_tags = em.shape[0], em.shape[1], em.shape[2]
    a.emissions = _data(em, typenum, "emissions")
    if tags is not None:
        a.tags = index_data(tags, &a.tags_type)
    else:
        a.tags_type = LOSSK_INDEX_INT64
    a.lengths = <const int64_t *>_data(lengths, cnp.NPY_INT64, "lengths")
    a.transitions = _data(transitions, typenum, "transitions")
    a.start_transitions = _data(start, typenum, "start_transitions")
    a.end_transitions = _data(end, typenum, "end_transitions")
    a.reduction = <lossk_reduction>reduction
    a.loss_out = &value
    a.loss_none = _data(loss_none, typenum, "loss_none")
    if grads is not None:
        a.grad_emissions = _data(grads[0], typenum, "grad_emissions")
        a.grad_transitions = _data(grads[1], typenum, "grad_transitions")
        a.grad_start = _data(grads[2], typenum, "grad_start")
        a.grad_end = _data(grads[3], typenum, "grad_end")
    a.paths = <int64_t *>_data(paths, cnp.NPY_INT64, "paths")
    a.n_threads = n_threads
    a.bad_index = -1
    a.upstream = <const double *>_data(upstream, cnp.NPY_FLOAT64, "upstream")
    with nogil:
        status = lossk_crf(name, &a)
    check_status(status, a.bad_index)
    return value
def triplet_margin_loss(anchor, positive, negative, int64_t n, int64_t d, double margin, double p,
                        double eps, bint swap, int reduction, loss_none, grads, int n_threads):
    """triplet_margin_loss through lossk_metric: (n, d) C-contiguous arrays of
    one dtype; grads None or (anchor's, positive's, negative's). Returns the loss."""
    cdef lossk_metric_args a
    cdef double loss_value = 0.0
    cdef lossk_status status
    memset(&a, 0, sizeof(a))
    a.size = sizeof(a)
    a.dtype = array_dtype(anchor)
    a.anchor = array_data(anchor, a.dtype, False)
    a.positive = array_data(positive, a.dtype, False)
    a.negative = array_data(negative, a.dtype, False)
    a.n, a.d, a.margin, a.p, a.eps, a.swap = n, d, margin, p, eps, swap
    a.reduction = <lossk_reduction>reduction
    a.loss_out = &loss_value
    a.loss_none = array_data(loss_none, a.dtype, True)
    if grads is not None:
        a.grad_anchor = array_data(grads[0], a.dtype, True)
        a.grad_positive = array_data(grads[1], a.dtype, True)
        a.grad_negative = array_data(grads[2], a.dtype, True)
    a.n_threads = n_threads
    with nogil:
        status = lossk_metric(b"triplet_margin_loss", &a)
    check_status(status, -1)
    return loss_value


def contrastive_rows(sim, int64_t row0, double inv_temperature, int64_t pos_shift, bint exclude_self,
                     extra, weight, loss, extra_grad, bint grad, int n_threads):
    """The contrastive row step (lossk_contrastive_rows) over sim, a C-contiguous
    (rows, cols) block of dot products, overwritten with d loss / d logit when
    grad; extra, weight, loss, extra_grad: float64 arrays of rows or None."""
    cdef lossk_contrastive_rows_args a
    cdef lossk_status status
    cdef cnp.ndarray s = <cnp.ndarray?>sim
    memset(&a, 0, sizeof(a))
    a.size = sizeof(a)
    a.dtype = array_dtype(sim)
    a.sim = array_data(sim, a.dtype, True)
    a.rows = cnp.PyArray_DIM(s, 0)
    a.cols = cnp.PyArray_DIM(s, 1)
    a.row0, a.inv_temperature, a.pos_shift, a.exclude_self = row0, inv_temperature, pos_shift, exclude_self
    a.extra = <const double *>array_data(extra, LOSSK_DTYPE_F64, False)
    a.weight = <const double *>array_data(weight, LOSSK_DTYPE_F64, False)
    a.loss = <double *>array_data(loss, LOSSK_DTYPE_F64, True)
    a.extra_grad = <double *>array_data(extra_grad, LOSSK_DTYPE_F64, True)
    for v in (extra, weight, loss, extra_grad):
        if v is not None and cnp.PyArray_SIZE(<cnp.ndarray?>v) != a.rows:
            raise ValueError("lossk: a per-row array of the wrong length reached the bridge")
    a.grad, a.n_threads = grad, n_threads
    with nogil:
        status = lossk_contrastive_rows(&a)
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
