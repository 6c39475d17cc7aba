"""lossk.torch: every registered loss as a torch op, driven by the registry
(tests/cases.py's CASES): gradcheck per loss and reduction, the torch.nn.functional
peers' losses and autograd gradients, any upstream gradient for "none", inputs left
alone, no gradient work when none is wanted, opcheck and torch.compile on a few
representative losses, and the protocol for losses whose samples depend on each other."""
import dataclasses
import inspect
import subprocess
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import lossk.torch as lt  # noqa: E402
from lossk._registry import SPECS, LossSpec  # noqa: E402
from cases import CASES, PEERS  # noqa: E402

F = torch.nn.functional
# Out of the ASan job: a custom op's errors cross torch's C++ dispatcher as C++
# exceptions (they abort under the preloaded ASan runtime); the kernels these ops
# call run under ASan in the family tests.
pytestmark = pytest.mark.cxx_exceptions
NAMES = sorted(SPECS)
RED_CASES = [(n, r) for n in NAMES for r in SPECS[n].reductions]
# Gradients that hold a factor constant, as their peers do (documented in each
# docstring): not the loss's derivative, so gradcheck does not apply; the other
# tests compare them with lossk's own gradient, and tests/test_box_torch.py with
# the peers' autograd.
CONSTANT_FACTOR = {"ciou_loss": "alpha (torchvision's no_grad)", "eiou_loss": "IoU^gamma (focal)",
                   "wiou_loss": "the enclosing diagonal (l2_box.detach())"}
GRADCHECK = [(n, r) for n, r in RED_CASES if n not in CONSTANT_FACTOR]


def to_torch(x):
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x.copy())
    if isinstance(x, list):
        return [to_torch(a) for a in x]
    return x


def case(name, reduction=None, grad=True, seed=0):
    """(inputs, options) of CASES[name] as tensors; the differentiated inputs require grad."""
    spec = SPECS[name]
    args, kwargs = CASES[name](np.random.default_rng(seed), np.float64)
    inputs = [to_torch(a) for a in args]
    for i, a in enumerate(inputs):
        if grad and spec.inputs[i] in spec.grads:
            for t in (a if isinstance(a, list) else [a]):
                t.requires_grad_(True)
    opts = {k: to_torch(v) for k, v in kwargs.items()}
    if reduction is not None:
        opts["reduction"] = reduction
    return inputs, opts


def leaves(name, inputs):
    spec = SPECS[name]
    out = []
    for i, a in enumerate(inputs):
        if spec.inputs[i] in spec.grads:
            out.extend(a if isinstance(a, list) else [a])
    return out


def rebuild(name, inputs, flat):
    """inputs with the differentiated tensors replaced by `flat`, in order."""
    spec, flat, out = SPECS[name], list(flat), []
    for i, a in enumerate(inputs):
        if spec.inputs[i] in spec.grads:
            n = len(a) if isinstance(a, list) else 1
            out.append(flat[:n] if isinstance(a, list) else flat[0])
            del flat[:n]
        else:
            out.append(a)
    return out


@pytest.mark.parametrize("name,reduction", GRADCHECK)
def test_gradcheck(name, reduction):
    inputs, opts = case(name, reduction)
    fn = getattr(lt, name)
    xs = leaves(name, inputs)
    assert torch.autograd.gradcheck(lambda *v: fn(*rebuild(name, inputs, v), **opts), xs,
                                    fast_mode=True, atol=1e-6, rtol=1e-5)


def _lossk_numpy(name, inputs, opts, **extra):
    spec = SPECS[name]
    args = [[t.detach().numpy() for t in a] if isinstance(a, list) else
            a.detach().numpy() if isinstance(a, torch.Tensor) else a for a in inputs]
    kw = {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in opts.items()}
    if "reduction" not in inspect.signature(spec.fn).parameters:
        kw.pop("reduction", None)
    loss, grads = spec.fn(*args, return_grad=True, **kw, **extra)
    return loss, (list(grads) if isinstance(grads, (list, tuple)) else [grads])


@pytest.mark.parametrize("name,reduction", RED_CASES)
def test_equals_lossk_scaled_backward_and_leaves_inputs_alone(name, reduction):
    """The loss is lossk's; backward of (loss * 3.7) (or of a random weighting of the
    "none" output) gives lossk's gradient times it; no input is written."""
    inputs, opts = case(name, reduction)
    before = [t.detach().clone() for t in leaves(name, inputs)] + [
        v.clone() for v in opts.values() if isinstance(v, torch.Tensor)]
    loss = getattr(lt, name)(*inputs, **opts)
    ref, ref_grads = _lossk_numpy(name, inputs, opts)
    np.testing.assert_array_equal(loss.detach().numpy(), np.asarray(ref))
    if reduction == "none":
        w = torch.from_numpy(np.random.default_rng(1).standard_normal(loss.shape))
        (loss * w).sum().backward()
        ref_g = _lossk_numpy_weighted(name, inputs, opts, w.numpy())
    else:
        (loss * 3.7).backward()
        ref_g = [3.7 * g for g in ref_grads]
    for t, g in zip(leaves(name, inputs), ref_g):
        np.testing.assert_allclose(t.grad.numpy(), g, rtol=1e-12, atol=1e-15)
    after = [t.detach() for t in leaves(name, inputs)] + [
        v for v in opts.values() if isinstance(v, torch.Tensor)]
    for a, b in zip(before, after):
        assert a.numpy().tobytes() == b.numpy().tobytes()


def _lossk_numpy_weighted(name, inputs, opts, w):
    """d(sum_i w_i loss_i)/d(input): lossk's upstream=w where the loss takes it, else
    (independent samples) the "none" gradient of each sample (element, box, or row
    and position) times its weight."""
    spec = SPECS[name]
    if "upstream" in inspect.signature(spec.fn).parameters:
        return _lossk_numpy(name, inputs, dict(opts, upstream=w))[1]
    _, grads = _lossk_numpy(name, inputs, opts)
    out = []
    for g in grads:
        if spec.mean == "boxes":
            out.append(g * w[..., None])
        elif spec.mean == "elements":
            out.append(g * np.broadcast_to(w, g.shape))
        else:
            out.append(g * w.reshape(w.shape[:1] + (1,) + w.shape[1:]))
    return out


def _peer_fn(name):
    spec = SPECS[name]
    if spec.peer and spec.peer.startswith("torch.nn.functional."):
        return getattr(F, spec.peer.rsplit(".", 1)[1])
    return None


TORCH_PEERS = [(n, r) for n, r in RED_CASES if _peer_fn(n) is not None]


@pytest.mark.parametrize("name,reduction", TORCH_PEERS)
def test_equals_torch_functional_loss_and_gradient(name, reduction):
    inputs, opts = case(name, reduction)
    loss = getattr(lt, name)(*inputs, **opts)
    w = torch.from_numpy(np.random.default_rng(2).standard_normal(loss.shape))
    (loss * w).sum().backward()
    mine = [t.grad.clone() for t in leaves(name, inputs)]
    for t in leaves(name, inputs):
        t.grad = None
    peer_in = list(inputs)
    if name == "margin_ranking_loss":
        peer_in[2] = peer_in[2].expand_as(peer_in[0])
    if name == "nll_loss" or name == "cross_entropy" or name == "multi_margin_loss":
        peer_in[1] = peer_in[1].long()
    with warnings.catch_warnings():     # broadcast targets, kl_div's "mean"
        warnings.simplefilter("ignore", UserWarning)
        theirs = _peer_fn(name)(*peer_in, **opts)
    (theirs * w).sum().backward()
    np.testing.assert_allclose(loss.detach().numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    for a, t in zip(mine, leaves(name, inputs)):
        np.testing.assert_allclose(a.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(PEERS))
def test_equals_peer_loss(name):
    """Every peer of tests/cases.py (torchvision's formulas too), per reduction."""
    compared = 0
    for reduction in SPECS[name].reductions:
        inputs, opts = case(name, reduction, grad=False)
        args, kwargs = CASES[name](np.random.default_rng(0), np.float64)
        kwargs["reduction"] = reduction
        want = PEERS[name](args, kwargs)
        if want is None:        # no peer equivalent for this call (tests/cases.py says why)
            continue
        np.testing.assert_allclose(getattr(lt, name)(*inputs, **opts).numpy(), want, rtol=1e-10, atol=1e-12)
        compared += 1
    assert compared, f"{name}: no reduction compared with the peer"


def test_argument_names_are_the_peers():
    """Array inputs take the torch.nn.functional peer's parameter names; the
    torchvision ones where torchvision is installed."""
    checked = 0
    for name, spec in SPECS.items():
        mine = list(inspect.signature(getattr(lt, name)).parameters)[:len(spec.inputs)]
        if _peer_fn(name) is not None:
            theirs = list(inspect.signature(_peer_fn(name)).parameters)[:len(spec.inputs)]
            assert mine == theirs, name
            checked += 1
        elif spec.peer is None:
            assert mine == list(spec.inputs), name
    assert checked >= 8
    assert list(inspect.signature(lt.sigmoid_focal_loss).parameters)[:2] == ["inputs", "targets"]
    assert list(inspect.signature(lt.giou_loss).parameters)[:2] == ["boxes1", "boxes2"]


def test_argument_names_are_torchvisions():
    tv = pytest.importorskip("torchvision")
    for name, spec in SPECS.items():
        if spec.peer and spec.peer.startswith("torchvision.ops."):
            fn = getattr(tv.ops, spec.peer.rsplit(".", 1)[1])
            assert (list(inspect.signature(getattr(lt, name)).parameters)[:2]
                    == list(inspect.signature(fn).parameters)[:2]), name


@pytest.mark.parametrize("name", ["cross_entropy", "margin_ranking_loss", "giou_loss", "l2_penalty"])
def test_no_gradient_work_unless_wanted(name, monkeypatch):
    """requires_grad False, or grad mode off: lossk is called with return_grad False."""
    loss_obj = getattr(lt, name)._lossk
    seen = []
    real = loss_obj.fn

    def spy(*a, **kw):
        seen.append(kw.get("return_grad", False))
        return real(*a, **kw)
    monkeypatch.setattr(loss_obj, "fn", spy)
    inputs, opts = case(name, grad=False)
    assert not getattr(lt, name)(*inputs, **opts).requires_grad
    inputs, opts = case(name)
    with torch.no_grad():
        getattr(lt, name)(*inputs, **opts)
    getattr(lt, name)(*inputs, **opts).backward()
    assert seen == [False, False, True]


@pytest.mark.cxx_exceptions   # errors raised inside autograd cross C++
def test_double_backward_raises():
    inputs, opts = case("cross_entropy")
    (g,) = torch.autograd.grad(lt.cross_entropy(*inputs, **opts), inputs[0], create_graph=False)
    assert not g.requires_grad
    with pytest.raises(RuntimeError, match="differentiable once"):
        torch.autograd.grad(lt.cross_entropy(*inputs, **opts), inputs[0], create_graph=True)


@pytest.mark.cxx_exceptions
def test_refusals():
    x = torch.randn(4, 3, dtype=torch.float64)
    t = torch.rand(4, 3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(ValueError, match="no gradient for 'target'"):
        lt.mse_loss(x, t)
    with pytest.raises(TypeError, match="positional"):
        lt.mse_loss(x, x, "sum")
    with pytest.raises(ValueError, match="reduction"):
        lt.mse_loss(x, x.detach(), reduction="avg")
    with pytest.raises(ValueError, match="reduction"):
        lt.l2_penalty([x], 0.1, reduction="mean")    # a sum, nothing else


def test_non_contiguous_and_float32():
    x = torch.randn(11, 6, dtype=torch.float32).t().requires_grad_(True)    # (6, 11), strided
    y = torch.randint(0, 11, (6,))
    lt.cross_entropy(x, y).backward()
    x2 = x.detach().clone().requires_grad_(True)
    F.cross_entropy(x2, y).backward()
    np.testing.assert_allclose(x.grad.numpy(), x2.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert lt.cross_entropy(x, y).dtype == torch.float32


# ---- losses whose samples depend on each other: the upstream protocol -----------------

def _centered(x, *, reduction="mean", return_grad=False, grad_out=None, n_threads=None, upstream=None):
    """A toy loss coupling the samples: loss_i = (x_i - mean(x))^2, taking upstream=."""
    d = x - x.mean()
    loss_none = d * d
    w = np.ones_like(x) if upstream is None or reduction != "none" else upstream
    s = {"mean": 1 / max(x.size, 1), "sum": 1.0, "none": 1.0}[reduction]
    grad = 2 * s * (w * d - np.mean(w * d))
    loss = loss_none if reduction == "none" else loss_none.sum() * s
    if not return_grad:
        return loss
    if grad_out is not None:
        grad_out[...] = grad
        grad = grad_out
    return loss, grad


def _toy_spec(fn, split="no", family="toy"):
    return LossSpec(name=fn.__name__, family=family, fn=fn, inputs=("x",), grads=("x",), target=None,
                    reductions=("mean", "sum", "none"), mean="elements", split=split, peer=None)


_TOYS = {}


def _toy(name):
    if name not in _TOYS:
        def _centered_plain(x, *, reduction="mean", return_grad=False, grad_out=None, n_threads=None):
            return _centered(x, reduction=reduction, return_grad=return_grad, grad_out=grad_out)
        fn = {"upstream": _centered, "plain": _centered_plain}[name]
        _TOYS[name] = lt._make(_toy_spec(fn), namespace="lossk_test")
    return _TOYS[name]


def test_upstream_protocol_gives_the_gradient_of_any_weighting():
    fn = _toy("upstream")
    x = torch.randn(9, dtype=torch.float64, requires_grad=True)
    for reduction in ("none", "mean", "sum"):
        assert torch.autograd.gradcheck(lambda v: fn(v, reduction=reduction), (x,))
    assert lt.none_backward_mode(_toy_spec(_centered)) == "upstream"


@pytest.mark.cxx_exceptions
def test_none_backward_without_upstream_raises_not_a_wrong_gradient():
    fn = _toy("plain")
    x = torch.randn(9, dtype=torch.float64, requires_grad=True)
    fn(x, reduction="sum").backward()             # the reduced losses are fine
    with pytest.raises(NotImplementedError, match="upstream="):
        fn(x, reduction="none").sum().backward()


def test_every_registered_loss_has_an_op():
    assert lt._UNAVAILABLE == {}
    assert set(lt.__all__) == set(SPECS)
    for name in SPECS:
        assert getattr(torch.ops.lossk, name) is not None


def test_mode_of_every_registered_loss():
    """Every loss with reduction="none" has a correct backward for it: the product
    rule where samples are independent, else the loss's upstream=."""
    modes = {name: lt.none_backward_mode(spec) for name, spec in SPECS.items() if "none" in spec.reductions}
    assert None not in modes.values()
    for name in ("dice_loss", "tversky_loss", "nt_xent_loss", "info_nce_loss", "crf_nll_loss",
                 "linear_cross_entropy"):
        assert modes[name] == "upstream", name


def test_coupled_loss_without_upstream_has_no_none_backward():
    """A loss whose samples depend on each other and that took no upstream= would get
    no "none" backward (lossk.torch refuses it rather than give a wrong gradient)."""
    def no_upstream(pred, target, reduction="mean", return_grad=False):
        raise AssertionError("not called")
    spec = dataclasses.replace(SPECS["dice_loss"], fn=no_upstream, independent=False)
    assert lt.none_backward_mode(spec) is None


# ---- torch.library and torch.compile, on representative losses -----------------------

@pytest.mark.cxx_exceptions
@pytest.mark.parametrize("name,reduction", [("cross_entropy", "mean"), ("margin_ranking_loss", "none"),
                                            ("giou_loss", "sum"), ("l2_penalty", "sum")])
def test_opcheck(name, reduction):
    inputs, opts = case(name, reduction)
    loss_obj = getattr(lt, name)._lossk
    args = loss_obj.op_args(inputs, opts)
    torch.library.opcheck(loss_obj.op, args)


@pytest.mark.cxx_exceptions
@pytest.mark.parametrize("name,reduction", [("cross_entropy", "mean"), ("sigmoid_focal_loss", "none")])
def test_compile_fullgraph_equals_eager(name, reduction):
    inputs, opts = case(name, reduction)
    fn = getattr(lt, name)
    w = torch.from_numpy(np.random.default_rng(3).standard_normal(fn(*inputs, **opts).shape))

    def step(*xs):
        return (fn(*rebuild(name, inputs, xs), **opts) * w).sum()
    xs = leaves(name, inputs)
    eager = step(*xs)
    eager.backward()
    g_eager = [t.grad.clone() for t in xs]
    for t in xs:
        t.grad = None
    torch._dynamo.reset()
    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")(*xs)
    compiled.backward()
    assert compiled.item() == eager.item()
    for a, t in zip(g_eager, xs):
        assert torch.equal(a, t.grad)


def test_import_lossk_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import lossk; assert 'lossk.torch' not in sys.modules\n"
            "lossk.cross_entropy(__import__('numpy').zeros((2, 3)), __import__('numpy').zeros(2, int))\n"
            "try:\n    import lossk.torch\nexcept ImportError:\n    print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**__import__("os").environ, "PYTHONPATH": ":".join(sys.path)})
    assert out.stdout.strip() == "ok", out.stderr


@pytest.mark.slow   # inductor compiles C++: over a minute on a busy 2-core machine
@pytest.mark.cxx_exceptions
def test_compile_inductor_equals_eager():
    inputs, opts = case("cross_entropy")
    x = inputs[0]

    def step(v):
        return lt.cross_entropy(v, inputs[1], **opts) * 3.7
    step(x).backward()
    g = x.grad.clone()
    x.grad = None
    torch._dynamo.reset()
    loss = torch.compile(step, fullgraph=True)(x)
    loss.backward()
    assert loss.item() == step(x).item() and torch.equal(g, x.grad)


def test_none_backward_per_sample_shapes():
    """Random upstream gradients where a sample is not a row: a log_input broadcast
    against its target (kl_div: expanded, autograd sums back), spatial class
    positions, boxes in a (2, 3) batch."""
    g = torch.Generator().manual_seed(5)
    x = torch.log_softmax(torch.randn(1, 5, generator=g, dtype=torch.float64), 1).requires_grad_(True)
    t = torch.softmax(torch.randn(6, 5, generator=g, dtype=torch.float64), 1)
    assert torch.autograd.gradcheck(lambda v: lt.kl_div(v, t, reduction="none"), (x,))
    go = torch.randn(6, 5, generator=g, dtype=torch.float64)
    lt.kl_div(x, t, reduction="none").backward(go)
    mine, x.grad = x.grad, None
    F.kl_div(x, t, reduction="none").backward(go)
    np.testing.assert_allclose(mine.numpy(), x.grad.numpy(), rtol=1e-12, atol=1e-15)
    x = torch.randn(3, 4, 5, 2, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 4, (3, 5, 2), generator=g)
    assert torch.autograd.gradcheck(lambda v: lt.cross_entropy(v, y, reduction="none"), (x,))
    b = torch.rand(2, 3, 4, generator=g, dtype=torch.float64) * 10
    b = torch.cat([b[..., :2], b[..., :2] + b[..., 2:] + 1], -1).requires_grad_(True)
    tb = b.detach() + 0.3
    assert torch.autograd.gradcheck(lambda v: lt.giou_loss(v, tb, reduction="none"), (b,))
