"""Thread-count policy: the default for every kernel call's `n_threads`."""
import contextlib
import operator
import threading


def _openmp_default():
    """The OpenMP runtime's default for the calling thread: OMP_NUM_THREADS (read by
    the runtime at start-up), a limit set through omp_set_num_threads (threadpoolctl's
    threadpool_limits(..., user_api="openmp") does that), else the CPUs available."""
    global _kernels
    if _kernels is None:
        from . import _kernels   # the extension (imported late: the reference works without it)
    return max(1, _kernels.openmp_default_threads())


_kernels = None


_default = None   # set_num_threads(n): overrides the OpenMP default for every thread


class _Local(threading.local):
    """num_threads() overrides, per Python thread."""
    n_threads = None  # no override (a class default: a missing attribute costs an exception per lookup)


_local = _Local()


def check_n_threads(n_threads, name="n_threads"):
    """A positive int (NumPy integers accepted, bool rejected)."""
    if isinstance(n_threads, bool):
        raise TypeError(f"{name} must be a positive int, got a bool")
    try:
        n = operator.index(n_threads)
    except TypeError:
        raise TypeError(f"{name} must be a positive int, got {type(n_threads).__name__}") from None
    if n < 1:
        raise ValueError(f"{name} must be >= 1, got {n}")
    return min(n, 1 << 16)


def resolve_n_threads(n_threads):
    """The thread count a call uses: `n_threads` if given, else the current default."""
    return get_num_threads() if n_threads is None else check_n_threads(n_threads)


def get_num_threads():
    """Default thread count: the num_threads() override of this Python thread, else
    set_num_threads(), else the OpenMP runtime's (OMP_NUM_THREADS, threadpoolctl's
    limit, else the CPUs available to the process)."""
    override = _local.n_threads
    if override is not None:
        return override
    return _openmp_default() if _default is None else _default


def set_num_threads(n):
    """Set the process-wide default thread count of every kernel call; None goes back
    to the OpenMP runtime's default (which threadpoolctl's limits change)."""
    global _default
    _default = None if n is None else check_n_threads(n, "n")


@contextlib.contextmanager
def num_threads(n):
    """Context manager: `with lossk.num_threads(1): ...` (affects this Python thread only)."""
    n = check_n_threads(n, "n")
    previous = _local.n_threads
    _local.n_threads = n
    try:
        yield n
    finally:
        _local.n_threads = previous
