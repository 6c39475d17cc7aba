"""Rows of results and their three renderings: Markdown table, JSON, PNG plot."""
from __future__ import annotations

import contextlib
import datetime
import io
import json
import os
import platform
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from . import harness
from .peers import LOSSK_GRAD_OUT


@dataclass
class Row:
    workload: str
    loss: str
    shape: tuple
    dtype: str
    threads: int
    peer: str
    bytes_moved: int            # minimum bytes of the workload (= the limit's bytes)
    limit_s: float              # the size-matched limit at this thread count
    median_s: float | None = None   # None: skipped, see note
    min_s: float | None = None
    max_s: float | None = None
    iqr_pct: float | None = None
    runs: int = 0
    loss_value: float | None = None
    speedup: float | None = None    # this row's time / lossk grad_out's time
    note: str = ""

    @property
    def gbps(self) -> float | None:
        return self.bytes_moved / self.median_s / 1e9 if self.median_s else None

    @property
    def pct_of_limit(self) -> float | None:
        return 100.0 * self.limit_s / self.median_s if self.median_s else None

    def as_dict(self) -> dict:
        return {**asdict(self), "gbps": self.gbps, "pct_of_limit": self.pct_of_limit}


def fill_speedups(rows: list[Row]) -> None:
    """Speed-up of lossk(grad_out) over every row of the same workload and threads."""
    ours = {(r.workload, r.threads): r.median_s for r in rows
            if r.peer == LOSSK_GRAD_OUT and r.median_s}
    for r in rows:
        base = ours.get((r.workload, r.threads))
        if base and r.median_s and not r.peer.startswith("limit"):
            r.speedup = r.median_s / base


# ---- Markdown ------------------------------------------------------------------

def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    ms = seconds * 1e3
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.3g}"


def _num(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


COLUMNS = ("workload", "dtype", "T", "peer", "median ms", "IQR %", "runs", "GB/s",
           "% of limit", "lossk grad_out speed-up", "note")


def markdown(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |",
             "|" + "|".join("---" if c in ("workload", "dtype", "peer", "note") else "---:"
                            for c in COLUMNS) + "|"]
    for r in rows:
        cells = (r.workload, r.dtype, str(r.threads), r.peer, _ms(r.median_s),
                 _num(r.iqr_pct, ".1f"), str(r.runs or "–"), _num(r.gbps, ".1f"),
                 _num(r.pct_of_limit, ".3g"),
                 "–" if r.speedup is None else f"{r.speedup:.2f}×", r.note)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ---- machine info ----------------------------------------------------------------

def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_total_gib() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _lossk_config(lossk) -> str:
    """show_config() prints (or returns) the build's version/OpenMP/SIMD summary."""
    show = getattr(lossk, "show_config", None)
    if show is None:
        return f"lossk {getattr(lossk, '__version__', '?')}"
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            returned = show()
    except Exception as e:  # a broken show_config must not lose a finished benchmark
        return f"show_config() failed: {e!r}"
    return (buf.getvalue() or str(returned or "")).strip()


def machine_info(lossk, stream_kernel, extra_notes: list[str]) -> dict:
    import numpy
    try:
        import torch
        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    try:   # its version without importing it (slow)
        from importlib.metadata import PackageNotFoundError, version
        jax_version = version("jax")
    except (ImportError, PackageNotFoundError):
        jax_version = None
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "nproc": harness.usable_cpus(),
        "mem_total_gib": _mem_total_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "torch": torch_version,
        "jax": jax_version,
        "lossk": getattr(lossk, "__version__", None),
        "lossk_path": getattr(lossk, "__file__", None),
        "lossk_config": _lossk_config(lossk),
        "stream_kernel": stream_kernel.describe(),
        "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "notes": extra_notes,
    }


def machine_summary(info: dict) -> str:
    return (f"{info['cpu']}, {info['nproc']} CPUs, {info['mem_total_gib']} GiB; "
            f"Python {info['python']}, NumPy {info['numpy']}, torch {info['torch']}, "
            f"jax {info['jax']}, "
            f"lossk {info['lossk']}; {info['date']}")


# ---- files ---------------------------------------------------------------------------

def write_json(path: Path, info: dict, protocol, rows: list[Row], limits: list[dict]) -> None:
    doc = {"machine": info, "protocol": asdict(protocol),
           "rows": [r.as_dict() for r in rows], "limits": limits}
    # inf (an unlimited max_call_s) is not JSON: write it as null.
    doc["protocol"] = {k: (None if v == float("inf") else v) for k, v in doc["protocol"].items()}
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")


def write_png(path: Path, rows: list[Row]) -> bool:
    """What a reader wants at a glance, per workload: lossk's speed-up over each peer
    (log scale, 1x marked) and its % of the size-matched limit, a pair of panels per
    thread count, workloads down the side; 1600 px wide. Returns False, with a
    message, when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        print("matplotlib is not installed: skipping the PNG "
              "(pip install matplotlib)", file=sys.stderr)
        return False

    timed = [r for r in rows if r.median_s]
    threads = sorted({r.threads for r in timed})
    workloads = list(dict.fromkeys(r.workload for r in timed))
    if not threads:
        return False
    # the peers lossk is compared with (not its own allocating variant, not the limit)
    peers = list(dict.fromkeys(r.peer for r in timed if r.speedup
                               and r.peer not in (LOSSK_GRAD_OUT, "lossk")))
    speedup = {(r.workload, r.threads, r.peer): r.speedup for r in timed if r.speedup}
    pct = {(r.workload, r.threads): r.pct_of_limit for r in timed if r.peer == LOSSK_GRAD_OUT}
    colour = {p: f"C{i}" for i, p in enumerate(peers)}
    y = list(range(len(workloads)))
    fig, axes = plt.subplots(1, 2 * len(threads), sharey=True, squeeze=False,
                             figsize=(16, max(3.0, 0.27 * len(workloads) + 1.5)),
                             gridspec_kw={"width_ratios": [3, 1.4] * len(threads)})
    axes = axes[0]
    for i, t in enumerate(threads):
        ax_s, ax_p = axes[2 * i], axes[2 * i + 1]
        height = 0.8 / max(1, len(peers))
        for k, p in enumerate(peers):
            vals = [speedup.get((w, t, p), float("nan")) for w in workloads]
            ax_s.barh([j + (k - (len(peers) - 1) / 2) * height for j in y], vals, height,
                      color=colour[p], label=f"vs {p}")
        if speedup:
            ax_s.set_xscale("log")
            ax_s.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
        ax_s.axvline(1.0, color="black", lw=0.8)
        ax_s.grid(axis="x", which="both", alpha=0.3)
        ax_s.set_title(f"{t} thread{'s' if t > 1 else ''}: lossk's speed-up (×, log)", fontsize=10)
        vals = [pct.get((w, t)) for w in workloads]
        ax_p.barh(y, [v if v is not None else float("nan") for v in vals], 0.6, color="0.45")
        for j, v in zip(y, vals):
            if v is not None:
                ax_p.text(v, j, f" {v:.0f}", va="center", fontsize=7)
        top = max([v for v in vals if v is not None] + [100.0])
        ax_p.set_xlim(0, top * 1.25)
        ax_p.axvline(100.0, color="black", lw=0.8)
        ax_p.grid(axis="x", alpha=0.3)
        ax_p.set_title(f"{t} thread{'s' if t > 1 else ''}: % of the limit", fontsize=10)
    axes[0].set_yticks(y, workloads, fontsize=8)
    axes[0].set_ylim(len(workloads) - 0.5, -0.5)   # the first workload at the top
    fig.suptitle("lossk (grad_out) forward + backward vs each peer, and vs streaming its bytes "
                 "through memory once", fontsize=11, x=0.01, ha="left")
    if peers:
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper right", ncol=len(peers), fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / fig.get_figheight()))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
