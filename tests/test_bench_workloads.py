"""The benchmark registry (lossk._bench.workloads): every loss has a workload, in the
module of its family, whose inputs lossk takes; the harness imports without its
optional peers' libraries."""
import os
import subprocess
import sys

import numpy as np
import pytest

import lossk
from lossk._bench import workloads

ALL = workloads.select()


def family_of(name):
    """The library's family of a loss: its spec's, else the module defining it."""
    return getattr(lossk.LOSSES[name], "family", None) or getattr(lossk, name).__module__.rpartition(".")[2]


def test_every_loss_has_a_workload():
    assert [name for name in lossk.LOSSES if not workloads.WORKLOADS.get(name)] == []


def test_every_workload_is_a_registered_loss_under_its_name():
    for name, rows in workloads.WORKLOADS.items():
        assert name in lossk.LOSSES
        assert all(w.loss == name for w in rows), name


@pytest.mark.parametrize("family", workloads.FAMILIES, ids=lambda m: m.__name__.rpartition(".")[2])
def test_family_modules_hold_their_familys_losses(family):
    short = family.__name__.rpartition(".")[2]
    assert {name: family_of(name) for name in family.WORKLOADS} == dict.fromkeys(family.WORKLOADS, short)


@pytest.mark.parametrize("wl", ALL, ids=[w.name for w in ALL])
def test_lossk_runs_on_the_inputs(wl):
    inputs = wl.tiny().inputs()
    loss, grad = getattr(lossk, wl.loss)(*inputs, return_grad=True, **wl.kwargs)
    assert np.isfinite(loss)
    spec = lossk._registry.SPECS[wl.loss]
    for name, g in zip(spec.grads, grad if len(spec.grads) > 1 else (grad,)):
        x = inputs[spec.inputs.index(name)]
        # a list of arrays (penalties) has one gradient per array
        for gi, xi in (zip(g, x) if isinstance(x, list) else [(g, x)]):
            assert gi.shape == xi.shape and np.isfinite(gi).all()


def test_the_harness_imports_without_torch_and_matplotlib():
    """torch, JAX and matplotlib are optional peers: importing the harness and listing
    its workloads must not need them (box_torch is the torch peers' own module)."""
    code = """if True:
        import pkgutil, sys
        for name in ("torch", "matplotlib", "jax"):
            sys.modules[name] = None   # import raises ImportError
        import lossk._bench as bench
        for m in pkgutil.walk_packages(bench.__path__, "lossk._bench."):
            if m.name != "lossk._bench.box_torch":
                __import__(m.name)
        sys.exit(sys.modules["lossk._bench.bench"].main(["--list", "--quick"]))
    """
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(lossk.__file__))))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert len(p.stdout.splitlines()) == len(workloads.select(quick=True))


def test_every_workload_names_a_limit_pattern_the_stream_kernel_has():
    from lossk._bench import stream
    for rows in workloads.WORKLOADS.values():
        for w in rows:
            reads, writes = stream.arrays(w.pattern)
            assert reads + writes >= 1, w.name
    assert stream.arrays("r3w2") == (3, 2) and stream.arrays("copy") == (1, 1)
    for bad in ("r0w0", "r5w1", "fill", "r1w"):
        with pytest.raises(ValueError, match="pattern"):
            stream.arrays(bad)


@pytest.mark.parametrize("reads, writes, nt", [(3, 2, 0), (3, 2, 1), (0, 1, 1), (2, 0, 0)])
def test_the_read_write_limit_kernel_moves_every_array(reads, writes, nt):
    """stream_rw adds its inputs into each output (or sums them): its bytes are really moved."""
    import ctypes
    from lossk._bench import stream
    kernel = stream.StreamKernel()
    if nt and not kernel.has_nt:
        pytest.skip("no non-temporal stores here")
    n = 16 * 5 + 7                                       # whole lines and a partial one
    ins = [stream._aligned(n, None) for _ in range(reads)]
    for k, a in enumerate(ins):
        a[:] = np.arange(n) * (k + 1)
    outs = [stream._aligned(n, -1.0) for _ in range(writes)]
    in_p = (ctypes.c_void_p * max(reads, 1))(*[a.ctypes.data for a in ins])
    out_p = (ctypes.c_void_p * max(writes, 1))(*[a.ctypes.data for a in outs])
    assert kernel._lib.stream_rw(reads, writes, nt, in_p, out_p, n, 2) >= 0
    want = sum(ins) if ins else np.zeros(n, np.float32)
    for out in outs:
        np.testing.assert_array_equal(out, want)
    assert kernel._lib.stream_rw(5, 1, 0, in_p, out_p, n, 1) == -1   # more arrays than it has


def test_a_raising_lossk_row_fails_the_run_and_a_raising_peer_does_not():
    """bench.main returns 1 when one of lossk's own rows raised (CI's smoke run must
    not pass with a broken workload); a peer that raises is only noted."""
    from lossk._bench import bench, peers

    class Raising(peers.Peer):
        def runner(self, wl, inputs, n_threads):
            raise IndexError("tuple index out of range")

    wl = ALL[0].tiny()
    base = dict(workload=wl.name, loss=wl.loss, shape=wl.shape, dtype=wl.dtype, threads=1,
                bytes_moved=8, limit_s=1.0)
    rows = []
    for name in (peers.LOSSK_GRAD_OUT, "torch"):
        peer = Raising()
        peer.name = name
        rows.append(bench.run_case(peer, wl, wl.inputs(), 1, None, base))
    assert [r.note for r in rows] == ["error: IndexError: tuple index out of range"] * 2
    assert bench.lossk_failures(rows) == rows[:1]
