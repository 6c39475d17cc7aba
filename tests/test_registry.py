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
