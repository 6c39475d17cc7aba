"""In-place development build of the same extension: python setup.py build_ext --inplace.

`pip install .` builds with scikit-build-core and CMake (pyproject.toml). Both
read the C sources and flags from csrc/sources.txt. Here the C sources are
compiled straight into the extension (no separate shared library).
"""
import glob
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy
from Cython.Build import cythonize
from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))


def read_sources_list():
    sources, incdirs, cflags = [], [], []
    with open(os.path.join(HERE, "csrc", "sources.txt")) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2 and parts[0] == "source":
                sources.append(os.path.join("csrc", parts[1]))
            elif len(parts) == 2 and parts[0] == "incdir":
                incdirs.append(os.path.normpath(os.path.join("csrc", parts[1])))
            elif len(parts) == 2 and parts[0] == "cflag":
                cflags.append(parts[1])
    return sources, incdirs, cflags


def compiler_has_openmp():
    """True when the C compiler builds and links a program with -fopenmp."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "t.c")
        with open(src, "w") as f:
            f.write("#include <omp.h>\nint main(void){return omp_get_max_threads() < 1;}\n")
        res = subprocess.run([cc, "-fopenmp", src, "-o", os.path.join(tmp, "t")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return res.returncode == 0


class ParallelBuildExt(build_ext):
    """build_ext that compiles the extension's sources -j N at a time (default: one
    per CPU). setuptools' own -j only builds separate extensions side by side, and
    there is one: its sources compiled one after another."""

    def build_extension(self, ext):
        jobs = self.parallel if type(self.parallel) is int else os.cpu_count() or 1
        serial = self.compiler.compile

        def compile_parallel(sources, *args, **kwargs):
            with ThreadPoolExecutor(max(1, jobs)) as pool:
                done = pool.map(lambda source: serial([source], *args, **kwargs), sources)
                return [obj for objs in done for obj in objs]

        self.compiler.compile = compile_parallel
        try:
            super().build_extension(ext)
        finally:
            self.compiler.compile = serial


sources, incdirs, cflags = read_sources_list()
# appended last, so they win (.ci/sanitize passes -O1: a shorter sanitized build)
cflags += os.environ.get("LOSSK_EXTRA_CFLAGS", "").split()
openmp = os.environ.get("LOSSK_OPENMP", "1") != "0" and compiler_has_openmp()
omp_flags = ["-fopenmp"] if openmp else []
info = "setuptools %s %s" % (sysconfig.get_config_var("CC") or "cc", " ".join(cflags + omp_flags))

ext = Extension(
    "lossk._kernels",
    sources=["src/lossk/_kernels.pyx"] + sources,
    include_dirs=["csrc/include", numpy.get_include()] + incdirs,
    depends=sorted(glob.glob("csrc/**/*.h", recursive=True)),  # rebuild on header edits
    define_macros=[("LOSSK_BUILD_INFO", '"%s"' % info), ("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    extra_compile_args=cflags + omp_flags,
    extra_link_args=omp_flags,
    libraries=["m"] if sys.platform != "win32" else [],
)

setup(
    cmdclass={"build_ext": ParallelBuildExt},
    ext_modules=cythonize([ext], language_level=3, include_path=["csrc/include"]),
    package_dir={"": "src"},
    packages=find_packages("src"),
)
