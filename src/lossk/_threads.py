"""Thread-count policy: the default for every kernel call's `n_threads`."""
import contextlib
import operator
import os
import threading


def _detect_default():
    """OMP_NUM_THREADS (its first entry) if set and valid, else the CPUs this process may use."""
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


_default = _detect_default()


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
    """Default thread count: num_threads() override, else set_num_threads(), else
    OMP_NUM_THREADS, else the CPUs available to the process."""
    override = _local.n_threads
    return _default if override is None else override


def set_num_threads(n):
    """Set the process-wide default thread count of every kernel call."""
    global _default
    _default = check_n_threads(n, "n")


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
