"""Awkward inputs for every registered loss (tests/awkward.py), one child
interpreter per loss x category so that a crash fails the test that caused it
instead of killing the run. The children of the selected tests run two at a
time (or one per CPU) in the background while pytest walks through them."""
import importlib.util
import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

import lossk
from awkward import CATEGORIES, NEEDS

HERE = os.path.dirname(os.path.abspath(__file__))
PARAMS = [(name, cat) for name in sorted(lossk.LOSSES) for cat in CATEGORIES]
# categories whose module is missing (torch is optional): skipped, no child started
MISSING = {cat: mod for cat, mod in NEEDS.items() if importlib.util.find_spec(mod) is None}
TIMEOUT = 600


def _child(name, category):
    env = dict(os.environ)
    lossk_root = os.path.dirname(os.path.dirname(os.path.abspath(lossk.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([lossk_root, HERE] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.setdefault("OMP_NUM_THREADS", "2")
    try:
        proc = subprocess.run([sys.executable, "-m", "awkward", name, category], cwd=HERE, env=env,
                              capture_output=True, text=True, timeout=TIMEOUT)
        return proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return "timeout", out, ""


@pytest.fixture(scope="module")
def children(request):
    """Starts the children of every selected test of this module at once."""
    selected = [item.callspec.params["name_cat"] for item in request.session.items
                if item.module is sys.modules[__name__] and hasattr(item, "callspec")
                and item.callspec.params["name_cat"][1] not in MISSING]
    pool = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2))
    futures = {nc: pool.submit(_child, *nc) for nc in selected}
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize("name_cat", PARAMS, ids=[f"{n}-{c}" for n, c in PARAMS])
def test_awkward_inputs(children, name_cat):
    name, category = name_cat
    if category in MISSING:
        pytest.skip(f"{MISSING[category]} is not installed")
    rc, out, err = children[name_cat].result()
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    started = [r["start"] for r in records if "start" in r]
    last = started[-1] if started else "(before the first case)"
    if rc == "timeout":
        pytest.fail(f"{name} {category}: no result after {TIMEOUT} s; last case started: {last}")
    if rc != 0 and not any("done" in r for r in records):
        how = f"killed by {signal.Signals(-rc).name}" if rc < 0 else f"exited with status {rc}"
        pytest.fail(f"{name} {category}: the child process {how} while running:\n  {last}\n"
                    f"stderr (end):\n{err[-3000:]}")
    fails = [f"{r['fail']}\n    {r['why']}" for r in records if "fail" in r]
    assert not fails, f"{len(fails)} awkward calls broke the contract:\n" + "\n".join(fails[:40])
    assert started, f"{name} {category}: no awkward variants were generated"
    # A sanitizer report may come without a non-zero exit status (ASan in a
    # child that exits through os._exit, UBSan with recovery): fail on it too.
    assert "Sanitizer" not in err and "runtime error:" not in err, err[-3000:]
