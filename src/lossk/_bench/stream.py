"""Build, load and run stream.c: the size-matched memory limit of each workload.

stream.c is compiled on first use with the machine's C compiler and cached under
the checkout's benchmarks/.build/ (keyed by a hash of the source, the compiler and the
flags), so the limit is always measured by code built for this very machine.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import harness

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "stream.c"
# A checkout (src/lossk/_bench) builds in its benchmarks/.build/ (ignored by git); the
# harness installed with the package builds in the temp directory, not in site-packages.
_CHECKOUT = HERE.parents[2]
BUILD_DIR = (_CHECKOUT / "benchmarks" / ".build" if (_CHECKOUT / "csrc").is_dir()
             else Path(tempfile.gettempdir()) / "lossk-bench-build")

# Tried in order; the first that compiles wins. -march=native exposes the widest
# vector stores of this machine (AVX-512 here); without OpenMP the kernel runs
# serially, which stream_config() reports (and the 2-thread limit is then wrong).
FLAG_LADDER = (
    ("-O3", "-march=native", "-fopenmp"),
    ("-O3", "-fopenmp"),
    ("-O3", "-march=native"),
    ("-O3",),
)
COMMON_FLAGS = ("-shared", "-fPIC")

OPS = {"copy": 0, "add": 1, "sum": 2}
# (arrays read, arrays written) of the workload's size, per pattern: copy reads one
# and writes one, add reads two and writes one, sum reads one; "rRwW" reads R and
# writes W (0..4 each; stream_rw), e.g. r0w1 for a gradient written from a few reads.
NAMED = {"copy": (1, 1), "add": (2, 1), "sum": (1, 0)}
_RW = re.compile(r"r([0-4])w([0-4])")


def arrays(pattern: str) -> tuple[int, int]:
    """(reads, writes) of `pattern`; ValueError for a pattern the kernel lacks."""
    if pattern in NAMED:
        return NAMED[pattern]
    m = _RW.fullmatch(pattern)
    if m is None or m.group(1) == m.group(2) == "0":
        raise ValueError(f"unknown limit pattern {pattern!r}: copy, add, sum or rRwW (R, W in 0..4)")
    return int(m.group(1)), int(m.group(2))


def _aligned(n_floats: int, fill: float | None) -> np.ndarray:
    """n_floats float32, 64-byte aligned (stream_rw requires it)."""
    raw = np.empty(n_floats + 16, np.float32)
    skip = (-raw.ctypes.data % 64) // 4
    a = raw[skip:skip + n_floats]
    if fill is not None:
        a.fill(fill)
    return a


def _writable_build_dir() -> Path:
    try:
        BUILD_DIR.mkdir(exist_ok=True)
        if os.access(BUILD_DIR, os.W_OK):
            return BUILD_DIR
    except OSError:
        pass
    fallback = Path(tempfile.gettempdir()) / "lossk-bench-build"
    fallback.mkdir(exist_ok=True)
    return fallback


def _compile(cc: str, flags: tuple[str, ...], build_dir: Path) -> Path:
    """Returns the cached or freshly built library; raises CalledProcessError/OSError."""
    key = hashlib.sha256(SOURCE.read_bytes() + repr((cc, flags)).encode()).hexdigest()[:16]
    lib = build_dir / f"stream-{key}.so"
    if not lib.exists():
        # Build under a private name, then rename: concurrent runs never load a
        # half-written library.
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=build_dir)
        os.close(fd)
        try:
            subprocess.run([cc, *flags, *COMMON_FLAGS, "-o", tmp, str(SOURCE)],
                           check=True, capture_output=True, text=True)
            os.replace(tmp, lib)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return lib


class StreamKernel:
    """ctypes handle on the compiled stream.c."""

    def __init__(self) -> None:
        cc = os.environ.get("CC", "cc")
        build_dir = _writable_build_dir()
        errors = []
        for flags in FLAG_LADDER:
            try:
                path = _compile(cc, flags, build_dir)
            except subprocess.CalledProcessError as e:
                errors.append(f"{cc} {' '.join(flags)}: {e.stderr.strip()[-300:]}")
                continue
            except OSError as e:  # no compiler at all: no point trying other flags
                raise RuntimeError(f"cannot run the C compiler {cc!r}: {e}") from e
            self.path, self.cc, self.flags = path, cc, flags
            break
        else:
            raise RuntimeError("cannot build stream.c:\n" + "\n".join(errors))

        self._lib = ctypes.CDLL(str(self.path))
        self._lib.stream_run.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p,
                                         ctypes.c_void_p, ctypes.c_void_p,
                                         ctypes.c_int64, ctypes.c_int]
        self._lib.stream_run.restype = ctypes.c_double
        self._lib.stream_rw.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p,
                                        ctypes.c_void_p, ctypes.c_int64, ctypes.c_int]
        self._lib.stream_rw.restype = ctypes.c_double
        self._lib.stream_config.restype = ctypes.c_char_p
        # e.g. {"openmp": "1", "simd": "avx512", "nt": "1"}
        self.config = dict(kv.split("=") for kv in
                           self._lib.stream_config().decode().split())

    @property
    def has_nt(self) -> bool:
        return self.config.get("nt") == "1"

    def describe(self) -> dict:
        return {"library": str(self.path), "cc": self.cc,
                "flags": " ".join(self.flags + COMMON_FLAGS), **self.config}

    def runner(self, pattern: str, nt: bool, n_floats: int, n_threads: int):
        """A self-timed zero-argument callable streaming n_floats with `pattern`.

        Its arrays are allocated here and live as long as the callable; the warm-up
        of harness.measure touches them before any timed run.
        """
        if pattern in OPS:
            a = np.ones(n_floats, np.float32)
            b = np.ones(n_floats, np.float32) if pattern == "add" else None
            c = np.empty(n_floats, np.float32) if arrays(pattern)[1] else None
            ptrs = [x.ctypes.data if x is not None else None for x in (a, b, c)]
            run, op = self._lib.stream_run, OPS[pattern]
            keep = (a, b, c)

            def go() -> float:
                return run(op, int(nt), *ptrs, n_floats, n_threads)
        else:
            r, w = arrays(pattern)
            ins = [_aligned(n_floats, 1.0) for _ in range(r)]
            outs = [_aligned(n_floats, None) for _ in range(w)]
            in_ptrs = (ctypes.c_void_p * max(r, 1))(*[x.ctypes.data for x in ins])
            out_ptrs = (ctypes.c_void_p * max(w, 1))(*[x.ctypes.data for x in outs])
            keep = (ins, outs, in_ptrs, out_ptrs)
            run = self._lib.stream_rw

            def go() -> float:
                return run(r, w, int(nt), in_ptrs, out_ptrs, n_floats, n_threads)

        def call() -> float:
            _keep_alive = keep  # noqa: F841 -- the arrays must outlive the pointers
            seconds = go()
            if seconds < 0:
                raise RuntimeError(f"the stream kernel refused {pattern} nt={nt}")
            return seconds

        return call


@dataclass(frozen=True)
class Limit:
    """The limit of one workload at one thread count."""

    pattern: str
    bytes_moved: int                 # total bytes the pattern reads + writes
    regular: harness.Timing
    nt: harness.Timing | None        # None for read-only patterns or without NT stores

    @property
    def best_kind(self) -> str:
        if self.nt is not None and self.nt.median < self.regular.median:
            return "NT"
        return "regular"

    @property
    def best(self) -> harness.Timing:
        return self.nt if self.best_kind == "NT" else self.regular

    def as_dict(self) -> dict:
        return {"pattern": self.pattern, "bytes_moved": self.bytes_moved,
                "best": self.best_kind, "regular": self.regular.as_dict(),
                "nt": self.nt.as_dict() if self.nt else None}


def measure_limit(kernel: StreamKernel, pattern: str, array_bytes: int, n_threads: int,
                  proto: harness.Protocol) -> Limit:
    """Times `pattern` over arrays of array_bytes each, with regular and NT stores.

    The workload's arrays may be float64 or odd-sized: only the byte count matters,
    so the kernel streams array_bytes / 4 float32 elements.
    """
    n_floats = array_bytes // 4
    timings = {}
    for nt in (False, True):
        if nt and not (arrays(pattern)[1] and kernel.has_nt):
            timings[nt] = None
            continue
        run = kernel.runner(pattern, nt, n_floats, n_threads)
        timings[nt] = harness.measure(run, proto, self_timed=True)
        del run  # free this variant's arrays before allocating the next
    return Limit(pattern, sum(arrays(pattern)) * n_floats * 4, timings[False], timings[True])
