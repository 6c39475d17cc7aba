"""The public header from C and C++, and the C example programs.

lossk.h must compile as strict C99 and C++11 without warnings, survive being
included twice, and give C linkage from C++; every examples/*.c must build
against the library sources of csrc/sources.txt (the only header it includes
is lossk.h) and exit 0 (each checks its own numbers). The compilers are
optional: without them these tests show as skipped."""
import glob
import os
import shutil
import subprocess

import pytest

from helpers import CC, run_command

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INCLUDE = os.path.join(ROOT, "csrc", "include")
CXX = shutil.which(os.environ.get("CXX", "c++")) or shutil.which("g++") or shutil.which("clang++")
have_sources = pytest.mark.skipif(not os.path.isdir(INCLUDE), reason="the C sources are not in this checkout")

TWICE = """
#include "lossk.h"
#include "lossk.h"
#include <stdio.h>
int main(void) {
    lossk_status s = LOSSK_ERR_TARGET_RANGE;
    printf("%s|%s|%d|%s\\n", lossk_version_string(), LOSSK_VERSION_STRING, LOSSK_VERSION_NUMBER,
           lossk_status_string(s));
    return lossk_version_number() == LOSSK_VERSION_NUMBER ? 0 : 1;
}
"""


def _sources_list(kind):
    """The entries of one kind ("source" or "incdir") of csrc/sources.txt, as paths."""
    paths = []
    with open(os.path.join(ROOT, "csrc", "sources.txt")) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2 and parts[0] == kind:
                paths.append(os.path.normpath(os.path.join(ROOT, "csrc", parts[1])))
    return paths


def _sources():
    return _sources_list("source")


def _private_includes():
    return [flag for d in _sources_list("incdir") for flag in ("-I", d)]


@have_sources
@pytest.mark.parametrize("lang", ["c99", "c++11"])
def test_header_compiles_strictly_twice_and_links(lang, tmp_path):
    compiler = CC if lang == "c99" else CXX
    if compiler is None:
        pytest.skip(f"no {'C' if lang == 'c99' else 'C++'} compiler")
    src = tmp_path / ("twice.c" if lang == "c99" else "twice.cpp")
    src.write_text(TWICE)
    obj = tmp_path / "twice.o"
    run_command([compiler, f"-std={lang}", "-pedantic", "-Wall", "-Wextra", "-Werror", "-I", INCLUDE,
          "-c", str(src), "-o", str(obj)])
    if CC is None:
        pytest.skip("no C compiler to build the library part")
    # link with the C library's queries (compiled as C): C linkage from C++ or the link fails
    lib = [s for s in _sources() if os.path.basename(s) in ("common.c", "dispatch.c")]
    objs = []
    for s in lib:
        o = tmp_path / (os.path.basename(s) + ".o")
        run_command([CC, "-O0", "-I", INCLUDE] + _private_includes() + ["-c", s, "-o", str(o)])
        objs.append(str(o))
    exe = tmp_path / "twice"
    run_command([compiler, str(obj)] + objs + ["-lm", "-o", str(exe)])
    out = run_command([str(exe)]).stdout.strip().split("|")
    assert out[0] == out[1] and out[3] == "class index out of range"


@have_sources
@pytest.mark.parametrize("example", sorted(glob.glob(os.path.join(ROOT, "examples", "*.c"))) or ["none"],
                         ids=os.path.basename)
def test_c_example_builds_and_passes(example, tmp_path):
    if example == "none":
        pytest.skip("no examples/*.c in this checkout")
    if CC is None:
        pytest.skip("no C compiler")
    exe = tmp_path / "example"
    obj = tmp_path / "example.o"
    # the example itself strictly, with the public header only
    run_command([CC, "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-I", INCLUDE, "-c", example, "-o", str(obj)])
    omp = ["-fopenmp"] if subprocess.run([CC, "-fopenmp", "-E", "-x", "c", "/dev/null"],
                                         capture_output=True).returncode == 0 else []
    run_command([CC, "-O1"] + omp + ["-I", INCLUDE] + _private_includes() + _sources()
         + [str(obj), "-lm", "-o", str(exe)])
    out = run_command([str(exe)]).stdout
    assert "all checks passed" in out, out
