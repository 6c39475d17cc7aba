"""lossk.show_config(): what this build is and what it runs with."""
import sys

from . import _kernels
from ._threads import get_num_threads


def config():
    """The build and run-time configuration as a dict."""
    info = dict(_kernels.build_info())
    info["threads"] = get_num_threads()
    info["openmp_note"] = ("kernels run in parallel with OpenMP" if info["openmp"] else
                           "built without OpenMP: every kernel runs serially")
    return info


def show_config(file=None):
    """Print version, OpenMP, thread count, SIMD level and compiler flags."""
    c = config()
    lines = [
        f"lossk {c['version']}",
        f"  OpenMP:        {'yes' if c['openmp'] else 'no'} ({c['openmp_note']})",
        f"  threads:       {c['threads']} (lossk.get_num_threads(); OpenMP default {c['default_threads']})",
        f"  SIMD level:    {c['simd_active']} (best compiled: {c['simd_compiled']}; env LOSSK_SIMD lowers it)",
        f"  build:         {c['build']}",
    ]
    print("\n".join(lines), file=file or sys.stdout)
