"""The registry is the one list of losses: every registered loss has its place
in every layer of its family, a reference, an example, numerical edges, a peer
or an explicit "no peer"."""
import inspect
import os

import pytest

import lossk
from lossk._registry import MEAN_KINDS, SPECS, SPLITS
from cases import CASES, EDGES, PEERS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "src", "lossk")
NAMES = sorted(SPECS)


def test_registry_lists_every_public_loss():
    assert set(SPECS) == set(lossk.LOSSES)
    for name, spec in SPECS.items():
        assert getattr(lossk, name) is spec.fn is lossk.LOSSES[name]
        assert name in lossk.__all__


@pytest.mark.parametrize("name", NAMES)
def test_spec_describes_the_function(name):
    spec = SPECS[name]
    params = inspect.signature(spec.fn).parameters
    assert spec.inputs and all(params[i].kind == params[i].POSITIONAL_OR_KEYWORD for i in spec.inputs)
    assert set(spec.grads) <= set(spec.inputs)
    assert spec.target is None or spec.target in spec.inputs
    if "reduction" in params:
        assert params["reduction"].default in spec.reductions
    else:   # no choice (penalties are sums): one reduction, the loss's own
        assert len(spec.reductions) == 1
    assert spec.mean in MEAN_KINDS and spec.split in SPLITS
    assert spec.peer is None or isinstance(spec.peer, str)


@pytest.mark.parametrize("name", NAMES)
def test_every_loss_has_reference_example_edges_and_peer(name):
    spec = SPECS[name]
    ref = spec.reference
    assert callable(ref) and ref is getattr(lossk.reference, name)
    assert ref.__module__ == f"lossk.reference.{spec.family}"
    assert name in CASES, f"tests/cases.py has no CASES[{name!r}]"
    assert name in EDGES, f"tests/cases.py has no EDGES[{name!r}]"
    if spec.peer is not None:
        assert name in PEERS, f"{name} names the peer {spec.peer}: tests/cases.py needs PEERS[{name!r}]"


@pytest.mark.parametrize("family", sorted({spec.family for spec in SPECS.values()}))
def test_family_name_is_the_same_in_every_layer(family):
    """csrc/<family>/, lossk/<family>.py, lossk/_args/<family>.py,
    lossk/reference/<family>.py and tests/test_<family>*.py all exist."""
    assert os.path.isdir(os.path.join(ROOT, "csrc", family)), f"csrc/{family}/"
    for path in (f"{family}.py", os.path.join("_args", f"{family}.py"),
                 os.path.join("reference", f"{family}.py")):
        assert os.path.isfile(os.path.join(SRC, path)), path
    tests = [f for f in os.listdir(os.path.join(ROOT, "tests")) if f.startswith(f"test_{family}")]
    assert tests, f"tests/test_{family}*.py"


INDEPENDENT = [n for n in NAMES if SPECS[n].independent and "none" in SPECS[n].reductions]


def test_independent_is_a_bool_and_covers_the_streaming_losses():
    for name, spec in SPECS.items():
        assert isinstance(spec.independent, bool), name
        assert spec.independent or spec.split != "rows", f"{name} streams by rows: its samples are independent"


@pytest.mark.parametrize("name", INDEPENDENT)
def test_independent_samples_depend_on_their_own_rows_only(name):
    """What lossk.torch's product rule assumes: row k's "none" loss and its rows of
    the "sum" gradient are those of row k alone (every differentiated input is cut
    with the rows)."""
    import numpy as np
    from lossk._stream import follows_rows
    spec = SPECS[name]
    args, kwargs = CASES[name](np.random.default_rng(7), np.float64)
    kwargs.pop("reduction", None)
    pred = args[0]
    cut = [follows_rows(a, pred, spec.mean, n == spec.target) for n, a in zip(spec.inputs, args)]
    opt_cut = {k: follows_rows(v, pred, spec.mean, False) for k, v in kwargs.items()}
    for g in spec.grads:
        assert cut[spec.inputs.index(g)], f"{name}: {g} is not cut with the rows, yet independent=True"
    none = spec.fn(*args, **kwargs, reduction="none")
    for k in sorted({0, pred.shape[0] - 1}):
        one = [a[k:k + 1] if c else a for a, c in zip(args, cut)]
        opts = {o: v[k:k + 1] if opt_cut[o] else v for o, v in kwargs.items()}
        np.testing.assert_allclose(spec.fn(*one, **opts, reduction="none"), none[k:k + 1], rtol=1e-12, atol=0)
    assert "sum" in spec.reductions
    _, grads = spec.fn(*args, **kwargs, reduction="sum", return_grad=True)
    grads = grads if isinstance(grads, tuple) else (grads,)
    for k in sorted({0, pred.shape[0] - 1}):
        one = [a[k:k + 1] if c else a for a, c in zip(args, cut)]
        opts = {o: v[k:k + 1] if opt_cut[o] else v for o, v in kwargs.items()}
        _, g1 = spec.fn(*one, **opts, reduction="sum", return_grad=True)
        for g_all, g_one in zip(grads, g1 if isinstance(g1, tuple) else (g1,)):
            np.testing.assert_allclose(g_one, g_all[k:k + 1], rtol=1e-12, atol=1e-300)
