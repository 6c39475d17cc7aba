"""Issue 26: bad input that escaped as the wrong exception, one regression test
per reproducer, in both backends. tests/awkward.py generalises each to every
registered loss (the classes of input named in its MUST_RAISE/MAY_RAISE tables,
the "torch" category, the zero-class and >32-dimension shape variants, the
eval variants)."""
import math

import numpy as np
import pytest

import lossk
from lossk._eval import evaluate

from helpers import requires_torch, torch

BACKENDS = ("c", "numpy")
# arrays of more than 32 dimensions exist from NumPy 2 on
many_dims = pytest.mark.skipif(np.lib.NumpyVersion(np.__version__) < "2.0.0", reason="NumPy < 2: at most 32 dims")


def _bits(result):
    leaves = result if isinstance(result, tuple) else (result,)
    return [(np.asarray(a).dtype, np.asarray(a).shape, np.asarray(a).tobytes()) for a in leaves]


# 1. an int beyond float's range: ValueError naming the option, not OverflowError

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("call, name", [
    (lambda b, v: lossk.cross_entropy(np.zeros((2, 3)), np.array([0, 1]), label_smoothing=v, backend=b),
     "label_smoothing"),
    (lambda b, v: lossk.softmax_focal_loss(np.zeros((2, 3)), np.array([0, 1]), gamma=v, backend=b), "gamma"),
    (lambda b, v: lossk.multi_margin_loss(np.zeros((2, 3)), np.array([0, 1]), margin=v, backend=b), "margin"),
    (lambda b, v: lossk.sigmoid_focal_loss(np.zeros(3), np.zeros(3), alpha=v, backend=b), "alpha"),
    (lambda b, v: lossk.hinge_loss(np.zeros(3), np.ones(3), margin=v, backend=b), "margin"),
    (lambda b, v: lossk.giou_loss(np.zeros((1, 4)), np.ones((1, 4)), eps=v, backend=b), "eps"),
    (lambda b, v: lossk.siou_loss(np.zeros((1, 4)), np.ones((1, 4)), theta=v, backend=b), "theta"),
    (lambda b, v: lossk.WIoULoss()(np.zeros((1, 4)), np.ones((1, 4)), eps=v, backend=b), "eps"),
])
@pytest.mark.parametrize("value", (10**400, -10**400))
def test_int_beyond_float_range_names_the_option(call, name, backend, value):
    with pytest.raises(ValueError, match=rf"^{name} must be a real number within the range of a float"):
        call(backend, value)


@pytest.mark.parametrize("kw", ("momentum", "alpha", "delta"))
def test_wiou_loss_options_beyond_float_range(kw):
    with pytest.raises(ValueError, match=rf"^{kw} must be"):
        lossk.WIoULoss(**{kw: 10**400})
    loss = lossk.WIoULoss()
    with pytest.raises(ValueError, match=r"^mean_iou_loss must be"):
        loss.mean_iou_loss = 10**400
    assert loss.mean_iou_loss == 1.0


def test_int_options_beyond_int64_name_the_option():
    for backend in BACKENDS:
        with pytest.raises(ValueError, match=r"^ignore_index must fit in 64 bits"):
            lossk.nll_loss(np.zeros((2, 3)), np.array([0, 1]), ignore_index=10**400, backend=backend)
        with pytest.raises(ValueError, match=r"^p must fit in 64 bits"):
            lossk.multi_margin_loss(np.zeros((2, 3)), np.array([0, 1]), p=-2**64, backend=backend)


# 2. torch tensors: read in place (detached), the plain-array call's bits

@requires_torch
@pytest.mark.parametrize("backend", BACKENDS)
def test_torch_tensor_requiring_grad_is_read_detached(backend):
    x = torch.linspace(-2, 2, 12, dtype=torch.float64).reshape(3, 4).requires_grad_()
    t = (torch.arange(12).reshape(3, 4) % 2).double()
    args = dict(return_grad=True, backend=backend)
    got = lossk.binary_cross_entropy_with_logits(x, t, **args)
    want = lossk.binary_cross_entropy_with_logits(x.detach().numpy(), t.numpy(), **args)
    assert _bits(got) == _bits(want)
    assert x.grad is None and x.requires_grad        # autograd untouched
    assert lossk.binary_cross_entropy_with_logits(torch.zeros(3, requires_grad=True), np.zeros(3),
                                                  backend=backend) == np.float32(math.log(2))


@requires_torch
@pytest.mark.parametrize("backend", BACKENDS)
def test_torch_tensors_every_family(backend):
    """Requiring grad, non-contiguous (a transposed view) and as an option,
    in each family: the bits of the plain-array call."""
    x = torch.randn(4, 6, dtype=torch.float64).T.requires_grad_()       # (6, 4), not contiguous
    assert not x.is_contiguous()
    idx = torch.tensor([0, 3, 1, 2, -100, 3])
    w = torch.rand(4, dtype=torch.float64, requires_grad=True)
    boxes = torch.tensor([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 4.0]], requires_grad=True)
    calls = [
        (lossk.cross_entropy, (x, idx), dict(weight=w)),
        (lossk.nll_loss, (x, idx), dict(weight=w)),
        (lossk.softmax_focal_loss, (x, idx), dict(alpha=w)),
        (lossk.multi_margin_loss, (x, idx.clamp(min=0)), dict(weight=w)),
        (lossk.kl_div, (x, x.exp()), {}),
        (lossk.giou_loss, (boxes, boxes.flip(0)), {}),
    ]
    for fn, args, kw in calls:
        plain_args = [a.detach().numpy() for a in args]
        plain_kw = {k: v.detach().numpy() for k, v in kw.items()}
        got = fn(*args, **kw, return_grad=True, backend=backend)
        assert _bits(got) == _bits(fn(*plain_args, **plain_kw, return_grad=True, backend=backend)), fn.__name__
    assert _bits(lossk.box_iou(boxes, boxes, backend=backend)) == _bits(
        lossk.box_iou(boxes.detach().numpy(), boxes.detach().numpy(), backend=backend))


@requires_torch
@pytest.mark.cxx_exceptions   # torch raises these through C++ exceptions
def test_torch_inputs_numpy_cannot_read_raise_naming_the_argument():
    t = np.zeros(2)
    with pytest.raises(TypeError, match=r"^logits is a torch tensor on meta"):
        lossk.binary_cross_entropy_with_logits(torch.zeros(2, device="meta"), t)
    with pytest.raises(TypeError, match=r"^logits cannot be read as an array"):
        lossk.binary_cross_entropy_with_logits(torch.zeros(2, dtype=torch.bfloat16), t)
    with pytest.raises(TypeError, match=r"^target cannot be read as an array"):   # a list of tensors
        lossk.binary_cross_entropy_with_logits(t, [torch.zeros((), requires_grad=True)] * 2)
    with pytest.raises(ValueError, match=r"^logits cannot be read as an array"):  # ragged nesting
        lossk.binary_cross_entropy_with_logits([[0.0, 1.0], [2.0]], t)


# 3. broadcasting beyond NumPy's 32 dimensions: ValueError naming the arguments

@many_dims
@pytest.mark.parametrize("backend", BACKENDS)
def test_kl_div_broadcast_beyond_32_dimensions(backend):
    with pytest.raises(ValueError, match=r"^target of shape \(1, 1, .* and log_input of shape \(3,\) "
                                         r"broadcast to more dimensions than NumPy supports"):
        lossk.kl_div(np.zeros(3), np.zeros((1,) * 33 + (3,)), backend=backend)
    # 32 dimensions still broadcast
    lossk.kl_div(np.zeros(3), np.zeros((1,) * 31 + (3,)), backend=backend)


@many_dims
def test_eval_broadcast_beyond_32_dimensions():
    with pytest.raises(ValueError, match=r"broadcast to more dimensions than NumPy supports"):
        evaluate("kl_div", np.zeros((2, 3)), np.zeros((1,) * 33 + (3,)))


# 4. lossk eval with no classes: the in-memory call's NaN

@pytest.mark.parametrize("name", ("cross_entropy", "nll_loss", "softmax_focal_loss"))
def test_eval_with_zero_classes_is_the_in_memory_mean(name):
    x, t = np.zeros((4, 0)), np.full(4, -100)
    assert math.isnan(evaluate(name, x, t)[0]) and math.isnan(lossk.LOSSES[name](x, t))
    assert math.isnan(evaluate(name, np.zeros((4, 0, 2)), np.full((4, 2), -100), chunk_rows=3)[0])
    assert evaluate(name, x, t, reduction="sum", chunk_rows=1) == (0.0, 4)
    # probability targets, no class: NaN as the kernel (and torch)
    assert math.isnan(evaluate("cross_entropy", x, np.zeros((4, 0)), chunk_rows=2)[0])
    assert math.isnan(lossk.cross_entropy(x, np.zeros((4, 0))))


# 5. lossk eval combines chunk sums in float64: IEEE overflow and inf - inf

def test_eval_chunk_sums_that_overflow_give_inf():
    x, t = np.array([[1e308], [1e308]]), np.zeros((2, 1))     # each row's loss softplus(1e308) = 1e308
    assert lossk.binary_cross_entropy_with_logits(x, t, reduction="sum") == np.inf
    assert evaluate("binary_cross_entropy_with_logits", x, t, reduction="sum", chunk_rows=1) == (np.inf, 2)
    assert evaluate("binary_cross_entropy_with_logits", x, t, chunk_rows=1) == (np.inf, 2)


def test_eval_chunk_sums_of_plus_and_minus_inf_give_nan():
    x, t = np.full((2, 1), np.inf), np.zeros((2, 1))
    w = np.array([[1.0], [-1.0]])                             # chunk sums +inf and -inf
    assert math.isnan(lossk.binary_cross_entropy_with_logits(x, t, weight=w, reduction="sum"))
    for reduction in ("sum", "mean"):
        value, chunks = evaluate("binary_cross_entropy_with_logits", x, t, reduction=reduction,
                                 options=dict(weight=w), chunk_rows=1)
        assert math.isnan(value) and chunks == 2


def test_eval_class_weights_summing_to_zero_divide_as_ieee():
    """A mean divided by a weight sum of 0: +-inf as the in-memory call, not the first row's mean."""
    x = np.array([[0.0, 5.0], [3.0, 0.0]])
    t, w = np.array([0, 1]), np.array([1.0, -1.0])
    whole = lossk.cross_entropy(x, t, weight=w)
    assert whole == np.inf
    assert evaluate("cross_entropy", x, t, options=dict(weight=w), chunk_rows=1)[0] == whole


# 6. backend="numpy" with no classes: the kernel's results

ZERO_CLASS_CALLS = [
    ("nll_loss", np.zeros((2, 0)), np.full(2, -100), {}),
    ("nll_loss", np.zeros((0,)), np.array(-100), {}),
    ("cross_entropy", np.zeros((2, 0)), np.full(2, -100), {}),
    ("cross_entropy", np.zeros((2, 0, 3)), np.full((2, 3), 7), dict(ignore_index=7, label_smoothing=0.2,
                                                                     weight=np.zeros(0))),
    ("cross_entropy", np.zeros((2, 0)), np.zeros((2, 0)), dict(label_smoothing=0.2)),   # probabilities
    ("softmax_focal_loss", np.zeros((2, 0), np.float32), np.full(2, -100), {}),
    ("softmax_focal_loss", np.zeros((3, 0, 2)), np.full((3, 2), -100), dict(alpha=np.zeros(0))),
]


@pytest.mark.parametrize("reduction", ("mean", "sum", "none"))
@pytest.mark.parametrize("name, x, t, kw", ZERO_CLASS_CALLS)
def test_zero_classes_reference_equals_kernel(name, x, t, kw, reduction):
    fn = lossk.LOSSES[name]
    kernel = fn(x, t, **kw, reduction=reduction, return_grad=True)
    reference = fn(x, t, **kw, reduction=reduction, return_grad=True, backend="numpy")
    for k, r in zip(kernel, reference):
        assert k.dtype == r.dtype and k.shape == r.shape
        np.testing.assert_array_equal(k, r)                 # NaN equals NaN (of either sign)
    if reduction == "mean":
        assert math.isnan(reference[0])
    elif reduction == "sum":
        assert reference[0] == 0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ("nll_loss", "cross_entropy", "softmax_focal_loss"))
def test_zero_classes_with_a_class_target_raise_naming_target(name, backend):
    with pytest.raises(ValueError, match=r"^target\[0\] = 0 is not a class index in \[0, 0\)"):
        lossk.LOSSES[name](np.zeros((2, 0)), np.zeros(2, np.int64), backend=backend)


# return_grad and every other boolean option: bools (and NumPy bools) only

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("value", ("no", "", 0, 1, None, np.array([True]), [False], 1.0))
def test_return_grad_must_be_a_bool(value, backend):
    x, t = np.zeros((2, 3)), np.array([0, 1])
    for call in (lambda: lossk.nll_loss(x, t, return_grad=value, backend=backend),
                 lambda: lossk.binary_cross_entropy_with_logits(x, x, return_grad=value, backend=backend),
                 lambda: lossk.kl_div(x, x, return_grad=value, backend=backend),
                 lambda: lossk.iou_loss(np.zeros((1, 4)), np.ones((1, 4)), return_grad=value, backend=backend),
                 lambda: lossk.WIoULoss()(np.zeros((1, 4)), np.ones((1, 4)), return_grad=value, backend=backend)):
        with pytest.raises(TypeError, match=r"^return_grad must be a bool"):
            call()


@pytest.mark.parametrize("backend", BACKENDS)
def test_numpy_bools_are_bools(backend):
    x, t = np.linspace(-1, 1, 6).reshape(2, 3), np.array([0, 1])
    assert _bits(lossk.cross_entropy(x, t, return_grad=np.bool_(True), backend=backend)) == _bits(
        lossk.cross_entropy(x, t, return_grad=True, backend=backend))
    assert _bits(lossk.hinge_loss(x, np.sign(x), squared=np.bool_(True), backend=backend)) == _bits(
        lossk.hinge_loss(x, np.sign(x), squared=True, backend=backend))
    assert isinstance(lossk.cross_entropy(x, t, return_grad=np.bool_(False), backend=backend), np.float64)


@pytest.mark.parametrize("call, name", [
    (lambda v: lossk.hinge_loss(np.zeros(2), np.ones(2), squared=v), "squared"),
    (lambda v: lossk.kl_div(np.zeros(2), np.zeros(2), log_target=v), "log_target"),
    (lambda v: lossk.WIoULoss().train(v), "mode"),
])
@pytest.mark.parametrize("value", ("no", 0, 1, None))
def test_boolean_options_must_be_bools(call, name, value):
    with pytest.raises(TypeError, match=rf"^{name} must be a bool"):
        call(value)
