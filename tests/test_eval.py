"""`lossk eval` (lossk._eval.evaluate and the command line): a loss streamed over
chunks of rows equals the loss of the whole arrays, for every registered loss."""
import io
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import lossk
from lossk import _eval
from lossk._eval import evaluate
from lossk._registry import MEAN_KINDS, MEAN_OVER, SPECS

from cases import CASES
from helpers import assert_close

ENV = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(lossk.__file__))))


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "lossk", "eval", *args], capture_output=True, text=True,
                          env=ENV, timeout=120, cwd=cwd)


def test_every_loss_says_what_its_mean_divides_by():
    assert set(MEAN_OVER) == set(lossk.LOSSES)
    assert set(MEAN_OVER.values()) <= set(MEAN_KINDS)


def _case(name, dtype, seed=0):
    (pred, target), kw = CASES[name](np.random.default_rng(seed), dtype)
    kw.pop("reduction", None)
    return pred, target, kw


@pytest.mark.parametrize("name", sorted(n for n, s in SPECS.items() if s.split != "rows"))
def test_losses_that_do_not_split_are_refused(name):
    x = np.zeros((4, 3))
    with pytest.raises(ValueError, match=f"{name} cannot be streamed in chunks of rows"):
        evaluate(name, x, x)


@pytest.mark.parametrize("dtype", (np.float32, np.float64))
@pytest.mark.parametrize("name", sorted(n for n, s in SPECS.items() if s.split == "rows"))
def test_chunks_give_the_whole_arrays_loss(name, dtype):
    if SPECS[name].split != "rows":     # not a sum over rows: evaluate refuses it
        with pytest.raises(ValueError, match="cannot be streamed"):
            args = CASES[name](np.random.default_rng(0), dtype)[0]
            evaluate(name, args[0], args[-1])
        return
    if len(SPECS[name].inputs) != 2:
        pytest.skip("lossk eval streams a prediction and a target; this loss has other inputs")
    pred, target, kw = _case(name, dtype)
    reductions = ("mean", "sum", "batchmean") if name == "kl_div" else ("mean", "sum")
    for reduction in reductions:
        whole = lossk.LOSSES[name](pred, target, reduction=reduction, **kw)
        for rows in (1, 4, 7, pred.shape[0], 10 * pred.shape[0]):
            value, chunks = evaluate(name, pred, target, reduction=reduction, options=kw, chunk_rows=rows)
            assert chunks == math.ceil(pred.shape[0] / rows)
            assert isinstance(value, float)
            assert_close(value, whole, dtype)


def test_class_index_means_divide_by_the_kept_targets_weights():
    """A chunk whose targets are all ignored adds to the sum and divisor nothing;
    the weights of the others divide the mean, as one call over everything."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 6))
    t = rng.integers(0, 6, 40)
    t[:10] = -100                       # the first chunks are all ignored
    w = rng.random(6)
    for name, opt in (("cross_entropy", "weight"), ("nll_loss", "weight"), ("softmax_focal_loss", "alpha")):
        for kw in ({}, {opt: w}, {opt: w, "ignore_index": 2}):
            tk = np.where(t == -100, kw.get("ignore_index", -100), t)
            value, _ = evaluate(name, x, tk, options=kw, chunk_rows=5)
            assert_close(value, lossk.LOSSES[name](x, tk, **kw))
    # probability targets: the mean is over samples, whatever the weights
    probs = rng.dirichlet(np.ones(6), 40)
    value, _ = evaluate("cross_entropy", x, probs, options=dict(weight=w), chunk_rows=7)
    assert_close(value, lossk.cross_entropy(x, probs, weight=w))
    # (N, C, d) logits: samples are N * d, targets (N, d)
    x3, t3 = rng.standard_normal((9, 6, 4)), rng.integers(0, 6, (9, 4))
    for name in ("cross_entropy", "softmax_focal_loss", "multi_margin_loss"):
        if name == "multi_margin_loss":
            x3, t3 = x3[:, :, 0], t3[:, 0]
        value, _ = evaluate(name, x3, t3, chunk_rows=2)
        assert_close(value, lossk.LOSSES[name](x3, t3))


def test_means_with_nothing_to_divide_by_are_the_losses_own():
    """All targets ignored or no rows: what one call gives (NaN, or 0 for boxes)."""
    x = np.zeros((6, 3))
    for value, _ in (evaluate("cross_entropy", x, np.full(6, -100), chunk_rows=2),
                     evaluate("nll_loss", x, np.full(6, -100), chunk_rows=2),
                     evaluate("softmax_focal_loss", x, np.zeros(6, np.int64), options=dict(alpha=np.zeros(3)),
                              chunk_rows=2),
                     evaluate("sigmoid_focal_loss", np.zeros((0, 3)), np.zeros((0, 3)))):
        assert math.isnan(value)
    assert evaluate("giou_loss", np.zeros((0, 4)), np.zeros((0, 4))) == (0.0, 1)
    assert evaluate("sigmoid_focal_loss", np.zeros((0, 3)), np.zeros((0, 3)), reduction="sum") == (0.0, 1)


def test_arrays_that_broadcast_are_not_cut():
    """An option or target with pred's leading length but fewer dimensions
    broadcasts along pred's last axes: it passes whole (here N == C, where cutting
    it would still run and give wrong numbers)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 5))
    t = (rng.random((5, 5)) < 0.5).astype(np.float64)
    pw, w_rows = rng.uniform(0.5, 3, 5), rng.random((5, 1))
    for kw in (dict(pos_weight=pw), dict(weight=w_rows, pos_weight=pw), dict(weight=pw)):
        value, _ = evaluate("binary_cross_entropy_with_logits", x, t, options=kw, chunk_rows=2)
        assert_close(value, lossk.binary_cross_entropy_with_logits(x, t, **kw))
    q = rng.dirichlet(np.ones(5))
    for target in (q, np.broadcast_to(q, (5, 5)).copy()):
        for reduction in ("mean", "sum", "batchmean"):
            value, _ = evaluate("kl_div", x, target, reduction=reduction, chunk_rows=2)
            assert_close(value, lossk.kl_div(x, target, reduction=reduction))
    value, _ = evaluate("kl_div", x[:, :1], np.broadcast_to(q, (5, 5)).copy(), chunk_rows=3)
    assert_close(value, lossk.kl_div(x[:, :1], np.broadcast_to(q, (5, 5)).copy()))


def test_single_samples_are_one_chunk():
    x = np.array([0.5, -1.0, 2.0])
    assert evaluate("cross_entropy", x, np.array(2), chunk_rows=1) == (float(lossk.cross_entropy(x, np.array(2))), 1)
    box = np.array([0.0, 0.0, 2.0, 2.0])
    assert evaluate("giou_loss", box, box + 0.5, chunk_rows=1)[1] == 1


def test_memory_mapped_files_stream_in_chunks(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    x = (3 * rng.standard_normal((1000, 80))).astype(np.float32)
    t = (rng.random((1000, 80)) < 0.1).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "t.npy", t)
    xm, tm = np.load(tmp_path / "x.npy", mmap_mode="r"), np.load(tmp_path / "t.npy", mmap_mode="r")
    seen = []
    # the default chunk is CHUNK_BYTES of prediction: 100 rows of 320 bytes here
    monkeypatch.setattr(_eval, "CHUNK_BYTES", 100 * 80 * 4)
    value, chunks = evaluate("sigmoid_focal_loss", xm, tm, progress=lambda done, total: seen.append((done, total)))
    assert chunks == 10 and seen == [(100 * (k + 1), 1000) for k in range(10)]
    assert_close(value, lossk.sigmoid_focal_loss(x, t), np.float32)
    assert_close(evaluate("sigmoid_focal_loss", xm, tm, n_threads=1)[0], value, rtol=0, atol=0)


@pytest.mark.parametrize("call, message", [
    (lambda x, t: evaluate("no_such_loss", x, t), "unknown loss 'no_such_loss'; the losses are: binary_cross_entropy"),
    (lambda x, t: evaluate("sigmoid_focal_loss", x, t, reduction="none"), "reduction must be one of"),
    (lambda x, t: evaluate("sigmoid_focal_loss", x, t, reduction="batchmean"), "reduction must be one of"),
    (lambda x, t: evaluate("sigmoid_focal_loss", x, t, options=dict(reduction="sum")), "option 'reduction'"),
    (lambda x, t: evaluate("sigmoid_focal_loss", x, t, options=dict(grad_out=x)), "option 'grad_out'"),
    (lambda x, t: evaluate("sigmoid_focal_loss", x, t, chunk_rows=0), "chunk_rows must be a positive int"),
    (lambda x, t: evaluate("sigmoid_focal_loss", x, t, chunk_rows=2.0), "chunk_rows must be a positive int"),
    (lambda x, t: evaluate("sigmoid_focal_loss", x.tolist(), t), "must be NumPy arrays"),
    (lambda x, t: evaluate("sigmoid_focal_loss", x, t, options=dict(alpha=2.0)), "alpha"),
    (lambda x, t: evaluate("sigmoid_focal_loss", x, t[:3]), "target"),
])
def test_bad_arguments_raise(call, message):
    x, t = np.zeros((4, 3)), np.zeros((4, 3))
    with pytest.raises((ValueError, TypeError), match=message.replace("(", r"\(").replace(")", r"\)")):
        call(x, t)


def test_command_line(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((300, 7)).astype(np.float32)
    t = rng.integers(0, 7, 300)
    w = rng.random(7).astype(np.float32)
    for name, a in (("x.npy", x), ("t.npy", t), ("w.npy", w)):
        np.save(tmp_path / name, a)
    args = ("cross_entropy", "x.npy", "t.npy", "-o", "weight=w.npy", "-o", "label_smoothing=0.1",
            "--chunk-rows", "64", "--threads", "1")
    p = run(*args, "--no-progress", cwd=tmp_path)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    expected, _ = evaluate("cross_entropy", x, t, options=dict(weight=w, label_smoothing=0.1), chunk_rows=64)
    assert p.stdout == repr(expected) + "\n"
    assert_close(expected, lossk.cross_entropy(x, t, weight=w, label_smoothing=0.1), np.float32)
    p = run(*args, "--json", "--reduction", "sum", "--progress", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["loss"] == "cross_entropy" and out["reduction"] == "sum" and out["rows"] == 300
    assert out["chunks"] == 5 and out["seconds"] > 0
    assert_close(out["value"], lossk.cross_entropy(x, t, weight=w, label_smoothing=0.1, reduction="sum"), np.float32)
    assert "100.0 % (300/300 rows" in p.stderr and p.stderr.endswith("\n")
    # a word option
    (boxes, target), _ = CASES["giou_loss"](rng, np.float64)
    np.save(tmp_path / "b.npy", boxes)
    np.save(tmp_path / "bt.npy", target)
    p = run("giou_loss", "b.npy", "bt.npy", "-o", "box_format=cxcywh", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert_close(float(p.stdout), lossk.giou_loss(boxes, target, box_format="cxcywh"))


def test_progress_bar_lines():
    """One line, redrawn per chunk and ended when done; an error ends it early."""
    stream = io.StringIO()
    bar = _eval.ProgressBar(stream, "focal", width=4)
    bar(1, 4)
    bar(2, 4)
    assert stream.getvalue().count("\r") == 2 and "\n" not in stream.getvalue()
    assert stream.getvalue().rsplit("\r", 1)[1].startswith("focal [##..]  50.0 % (2/4 rows")
    bar.close()
    assert stream.getvalue().endswith("\n")
    bar.close()
    bar(4, 4)
    assert stream.getvalue().count("\n") == 2 and "[####] 100.0 % (4/4 rows" in stream.getvalue()


@pytest.mark.parametrize("args, message", [
    (("nope", "x.npy", "t.npy"), "lossk eval: unknown loss 'nope'"),
    (("cross_entropy", "x.npy", "t.npy", "-o", "weight"), "an option is NAME=VALUE, got 'weight'"),
    (("cross_entropy", "x.npy", "t.npy", "-o", "wieght=1"), "unexpected keyword argument 'wieght'"),
    (("cross_entropy", "x.npy", "t.npy", "-o", "weight=missing.npy"), "missing.npy"),
    (("cross_entropy", "x.csv", "t.npy"), "PRED must be a .npy file, got 'x.csv'"),
    (("cross_entropy", "missing.npy", "t.npy"), "missing.npy"),
    (("cross_entropy", "x.npy", "t.npy", "--reduction", "none"), "reduction must be one of"),
    (("cross_entropy", "x.npy", "t5.npy"), "target"),
])
def test_command_line_errors(tmp_path, args, message):
    np.save(tmp_path / "x.npy", np.zeros((4, 3), np.float32))
    np.save(tmp_path / "t.npy", np.zeros(4, np.int64))
    np.save(tmp_path / "t5.npy", np.zeros(5, np.int64))
    p = run(*args, "--progress", cwd=tmp_path)
    assert p.returncode == 1 and p.stdout == ""
    assert message in p.stderr, p.stderr
    assert p.stderr.startswith("lossk eval: ") or "\nlossk eval: " in p.stderr   # on a line of its own
