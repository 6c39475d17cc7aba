"""The benchmark's JAX peers compute the same loss and gradient as lossk, so that a
speed-up against them compares like with like. Skipped without JAX (an optional
benchmark peer: pip install jax jaxlib)."""
import numpy as np
import pytest

import lossk
from helpers import assert_close
from lossk._bench import peers, workloads

jax = pytest.importorskip("jax", reason="jax is not installed (pip install jax jaxlib)")

CASES = [w for w in workloads.select() if w.jax_loss is not None]


@pytest.mark.parametrize("wl", CASES, ids=[w.name for w in CASES])
def test_jax_peer_matches_lossk(wl):
    inputs = wl.tiny().inputs(seed=1)
    arrays = peers.jax_arrays(jax, inputs)
    value, grad = jax.jit(jax.value_and_grad(wl.jax_loss))(*arrays)
    loss, g = getattr(lossk, wl.loss)(*inputs, return_grad=True, **wl.kwargs)
    # JAX computes the peers' float32 formulas (torchvision's 1 - p_t, unclamped logs)
    assert_close(float(value), loss, np.float32, rtol=1e-4)
    assert_close(np.asarray(grad), g, np.float32, rtol=1e-4, atol=1e-7)

