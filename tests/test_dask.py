"""lossk.dask: the registry's row-splittable losses over Dask arrays equal the
in-memory call, on the synchronous, threaded and distributed schedulers, for
ragged, empty and weighted chunks, with gradients chunked like their inputs;
and `lossk eval --scheduler`."""
import os
import subprocess
import sys

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
import dask  # noqa: E402

import lossk  # noqa: E402
import lossk.dask as ld  # noqa: E402
from lossk._registry import SPECS  # noqa: E402

from cases import CASES  # noqa: E402
from helpers import assert_close  # noqa: E402

ROWS = sorted(n for n, s in SPECS.items() if s.split == "rows")


def test_every_splittable_loss_has_a_dask_version_and_the_others_are_refused():
    assert sorted(ld.__all__) == ROWS
    for name, spec in SPECS.items():
        if spec.split != "rows":
            with pytest.raises(ValueError, match=f"{name} cannot be computed over Dask chunks"):
                getattr(ld, name)


def _case(name, dtype, seed=0):
    args, kw = CASES[name](np.random.default_rng(seed), dtype)
    kw.pop("reduction", None)
    return list(args), kw


def _one_per_kind():
    """A few losses of each mean kind (registry-driven)."""
    seen, out = {}, []
    for name in ROWS:
        k = SPECS[name].mean
        if seen.get(k, 0) < 2:
            seen[k] = seen.get(k, 0) + 1
            out.append(name)
    return out + ["kl_div", "margin_ranking_loss"]     # batchmean; three inputs, two gradients


@pytest.mark.parametrize("name", _one_per_kind())
def test_registry_losses_equal_the_in_memory_call(name):
    spec = SPECS[name]
    for dtype in (np.float32, np.float64):
        args, kw = _case(name, dtype)
        n = args[0].shape[0]
        a, b = n // 4 + 1, n // 5 + 1
        chunks = (a, n - a - b, 0, b)           # ragged, with an empty chunk
        dargs = [da.from_array(a, chunks=(chunks,) + a.shape[1:]) if a.ndim and a.shape[0] == n else a
                 for a in args]
        for reduction in spec.reductions:
            whole = spec.fn(*args, reduction=reduction, return_grad=True, **kw)
            got = getattr(ld, name)(*dargs, reduction=reduction, return_grad=True, split_every=2, **kw)
            loss, grad = dask.compute(*got, scheduler="sync")
            assert_close(loss, whole[0], dtype)
            grads = grad if isinstance(grad, tuple) else (grad,)
            wgrads = whole[1] if isinstance(whole[1], tuple) else (whole[1],)
            for g, w, lazy in zip(grads, wgrads, got[1] if isinstance(got[1], tuple) else (got[1],)):
                assert g.dtype == w.dtype and lazy.chunks[0] == chunks
                assert_close(g, w, dtype)
            if reduction == "none":
                assert got[0].chunks[0] == chunks and loss.shape == np.shape(whole[0])
            else:
                assert loss.dtype == np.asarray(whole[0]).dtype and loss.shape == ()
            if reduction != "none" and dtype == np.float64:
                # without the gradient: the same value (float32's path: the bitwise tests)
                assert_close(getattr(ld, name)(*dargs, reduction=reduction, **kw).compute(scheduler="sync"),
                             whole[0], dtype)


# (split_every, scheduler) pairs tried on every chunking
SPLITS_SCHEDULERS = ((2, "sync"), (3, "threads"), (8, "threads"))


def _all_equal(fn, dargs, whole, pairs=SPLITS_SCHEDULERS, **kw):
    for s, sch in pairs:
        got = fn(*dargs, split_every=s, **kw).compute(scheduler=sch)
        assert got.dtype == np.asarray(whole).dtype and got == whole, (s, sch, got, whole)


@pytest.mark.parametrize("name,dtype", [("sigmoid_focal_loss", np.float32), ("sigmoid_focal_loss", np.float64),
                                        ("mse_loss", np.float32)])
def test_bitwise_for_chunks_of_whole_blocks(name, dtype):
    """Pointwise blocks are 16384 elements: 16 rows of 1024. Chunks of 1, 2, 3
    blocks and ragged ones of whole blocks (an empty one too) give the in-memory
    bits on every split and scheduler, float32 included (the chunks hand out
    their float64 block sums)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((96, 1024)).astype(dtype)
    t = (rng.random(x.shape) < 0.3).astype(dtype)
    for reduction in ("mean", "sum"):
        whole = getattr(lossk, name)(x, t, reduction=reduction)
        for k, rows in enumerate((16, 32, 48, (16, 48, 0, 32))):
            dx, dt = da.from_array(x, chunks=(rows, 1024)), da.from_array(t, chunks=(rows, 1024))
            # every split and scheduler on the ragged chunks, one pair on the others
            pairs = SPLITS_SCHEDULERS if k == 3 else SPLITS_SCHEDULERS[k % 3:k % 3 + 1]
            _all_equal(getattr(ld, name), (dx, dt), whole, pairs, reduction=reduction)


def test_bitwise_cross_entropy_for_chunks_of_whole_blocks():
    """(N, 64): a block is 65536 // 64 = 1024 rows; class-weighted means also add
    the kept targets' weights in blocks of 16384 samples ((N, 4): 4096 rows a
    loss block), so chunks of 16384 rows give the in-memory bits, gradient path too."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3072, 64))
    t = rng.integers(0, 64, 3072)
    for reduction in ("mean", "sum"):
        whole = lossk.cross_entropy(x, t, reduction=reduction)
        for k, rows in enumerate((1024, 2048, (1024, 0, 2048))):
            _all_equal(ld.cross_entropy, (da.from_array(x, chunks=(rows, 64)), t), whole,
                       SPLITS_SCHEDULERS[k:k + 1], reduction=reduction)
    x = rng.standard_normal((3 * 16384, 4)).astype(np.float32)
    t = rng.integers(0, 4, x.shape[0])
    t[::7] = 1
    w = rng.random(4).astype(np.float32)
    whole = lossk.cross_entropy(x, t, weight=w, ignore_index=1)
    dx = da.from_array(x, chunks=((16384, 32768), 4))
    _all_equal(ld.cross_entropy, (dx, t), whole, weight=w, ignore_index=1)
    loss, _ = ld.cross_entropy(dx, t, weight=w, ignore_index=1, return_grad=True)
    assert loss.compute(scheduler="threads") == whole


def test_block_sums_are_the_kernels_and_otherwise_the_value():
    from lossk import _kernels
    from lossk._stream import call_blocks, fold
    rng = np.random.default_rng(8)
    x, t = rng.standard_normal((64, 1024)), rng.standard_normal((64, 1024))
    value, parts = call_blocks(lambda: lossk.mse_loss(x, t, reduction="sum"))
    assert len(parts) == 4 and fold(parts) == value          # 16384 elements a block
    assert list(parts) == [lossk.mse_loss(x[i:i + 16], t[i:i + 16], reduction="sum") for i in range(0, 64, 16)]
    value, parts = call_blocks(lambda: lossk.mse_loss(x, t, reduction="sum", backend="numpy"))
    assert list(parts) == [value]                            # no kernel: the value itself
    assert _kernels.block_sums() is None                     # recording ends with the call


def test_weighted_means_over_unequal_chunks():
    """cross_entropy with class weights and ignore_index: the mean divides by the
    weights of the kept targets of every chunk, some of them all ignored."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((50, 6))
    t = rng.integers(0, 6, 50)
    t[:12] = 2                          # the first chunks hold only ignored targets
    w = rng.random(6)
    dx, dt = da.from_array(x, chunks=((4, 8, 0, 30, 8), 6)), da.from_array(t, chunks=((4, 8, 0, 30, 8),))
    for kw in ({"weight": w, "ignore_index": 2}, {"weight": da.from_array(w, chunks=2), "ignore_index": 2}):
        loss, grad = ld.cross_entropy(dx, dt, return_grad=True, label_smoothing=0.1, **kw)
        ref, ref_grad = lossk.cross_entropy(x, t, weight=w, ignore_index=2, label_smoothing=0.1, return_grad=True)
        loss, grad = dask.compute(loss, grad, scheduler="threads")
        assert_close(loss, ref)
        assert_close(grad, ref_grad)
    # every target ignored: the loss's own mean of nothing (NaN), as in memory
    t_all = np.full(50, 2)
    value = ld.cross_entropy(dx, da.from_array(t_all, chunks=dx.chunks[0]), ignore_index=2).compute()
    assert np.isnan(value) and np.isnan(lossk.cross_entropy(x, t_all, ignore_index=2))


def test_other_axes_are_rechunked_and_the_gradient_keeps_the_input_chunks():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((20, 9))
    t = rng.integers(0, 9, 20)
    dx = da.from_array(x, chunks=(6, 4))
    loss, grad = ld.cross_entropy(dx, t, return_grad=True)
    assert grad.chunks == dx.chunks
    ref = lossk.cross_entropy(x, t, return_grad=True)
    assert_close(loss.compute(), ref[0])
    assert_close(grad.compute(), ref[1])


def test_bad_calls():
    x = da.zeros((4, 3), chunks=2)
    with pytest.raises(ValueError, match="reduction"):
        ld.cross_entropy(x, np.zeros(4, np.int64), reduction="batchmean")
    with pytest.raises(ValueError, match="split_every"):
        ld.mse_loss(x, x, split_every=1)
    with pytest.raises(TypeError, match="takes 2 arrays"):
        ld.mse_loss(x)
    with pytest.raises(ValueError, match="weight"):        # the kernel's own checks, at compute time
        ld.cross_entropy(x, np.zeros(4, np.int64), weight=np.ones(5)).compute(scheduler="sync")


def test_threads_per_task():
    from lossk import dask as mod
    assert mod._threads(3) == 3
    assert mod._threads(None) is None       # the calling (main) thread: lossk's default
    assert dask.delayed(mod._threads)(None).compute(scheduler="threads") == 1


@pytest.fixture(scope="module")
def cluster(request):
    distributed = pytest.importorskip("distributed")
    # the nanny writes its workers' variables (OMP_NUM_THREADS=1, ...) into this
    # process's environment; later tests' child processes must not inherit them
    saved = dict(os.environ)
    request.addfinalizer(lambda: (os.environ.clear(), os.environ.update(saved)))
    with distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None,
                                  host="127.0.0.1") as c, distributed.Client(c) as client:
        yield client


def test_distributed_cluster(cluster):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((64, 1024)).astype(np.float32)
    t = (rng.random(x.shape) < 0.3).astype(np.float32)
    rows = (16, 32, 0, 16)              # whole blocks of 16 rows: the in-memory bits
    dx, dt = da.from_array(x, chunks=(rows, 1024)), da.from_array(t, chunks=(rows, 1024))
    loss, grad = ld.sigmoid_focal_loss(dx, dt, return_grad=True)
    got = cluster.compute([loss, grad, ld.mse_loss(dx, dt, reduction="sum", split_every=3)], sync=True)
    ref = lossk.sigmoid_focal_loss(x, t, return_grad=True)
    local = dask.compute(loss, grad, scheduler="sync")
    assert got[0] == local[0] and np.array_equal(got[1], local[1])     # identical on every scheduler
    assert got[0] == ref[0] and got[2] == lossk.mse_loss(x, t, reduction="sum")
    assert_close(got[1], ref[1], np.float32)
    from lossk import dask as mod
    assert cluster.submit(mod._threads, None, pure=False).result() == 1     # a worker's task: one thread


def test_eval_scheduler_threads_equals_the_plain_mode(tmp_path):
    """One subprocess: `import lossk` and plain `lossk eval` do not import Dask;
    `lossk eval --scheduler threads` prints the same value, with Dask's progress bar."""
    from lossk._eval import evaluate
    rng = np.random.default_rng(5)
    x = rng.standard_normal((300, 7))
    t = rng.integers(0, 7, 300)
    t[::4] = -100
    w = rng.random(7)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "t.npy", t)
    np.save(tmp_path / "w.npy", w)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(lossk.__file__))))
    args = ["eval", "cross_entropy", "x.npy", "t.npy", "-o", "weight=w.npy", "--chunk-rows", "64", "--progress"]
    code = (f"import sys, lossk; from lossk._cli import main; assert main({args!r}) == 0; "
            f"assert 'dask' not in sys.modules; assert main({args + ['--scheduler', 'threads']!r}) == 0; "
            f"assert 'dask.array' in sys.modules")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                       cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    plain, threads = p.stdout.split()
    assert plain == threads
    assert "100% Completed" in p.stderr                     # Dask's progress bar
    assert float(plain) == evaluate("cross_entropy", x, t, options=dict(weight=w), chunk_rows=64)[0]
