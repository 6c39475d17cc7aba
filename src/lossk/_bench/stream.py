"""Build, load and run stream.c: the size-matched memory limit of each workload.

stream.c is compiled on first use with the machine's C compiler and cached under
the checkout's benchmarks/.build/ (keyed by a hash of the source, the compiler and the
flags), so the limit is always measured by code built for this very machine.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
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
# Arrays of the workload's size that each pattern moves: copy reads one and writes
# one, add reads two and writes one, sum reads one.
ARRAYS_MOVED = {"copy": 2, "add": 3, "sum": 1}
HAS_STORES = {"copy": True, "add": True, "sum": False}


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
        a = np.ones(n_floats, np.float32)
        b = np.ones(n_floats, np.float32) if pattern == "add" else None
        c = np.empty(n_floats, np.float32) if HAS_STORES[pattern] else None
        ptrs = [x.ctypes.data if x is not None else None for x in (a, b, c)]
        run, op = self._lib.stream_run, OPS[pattern]

        def call() -> float:
            _keep_alive = (a, b, c)  # noqa: F841 -- the arrays must outlive the pointers
            seconds = run(op, int(nt), *ptrs, n_floats, n_threads)
            if seconds < 0:
                raise RuntimeError(f"stream_run refused {pattern} nt={nt}")
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
        if nt and not (HAS_STORES[pattern] and kernel.has_nt):
            timings[nt] = None
            continue
        run = kernel.runner(pattern, nt, n_floats, n_threads)
        timings[nt] = harness.measure(run, proto, self_timed=True)
        del run  # free this variant's arrays before allocating the next
    return Limit(pattern, ARRAYS_MOVED[pattern] * n_floats * 4, timings[False], timings[True])
