"""The public header from C and C++, and the C example programs.

lossk.h must compile as strict C99 and C++11 without warnings, survive being
included twice, and give C linkage from C++; every examples/*.c must build
against the library sources of csrc/sources.txt (the only header it includes
is lossk.h) and exit 0 (each checks its own numbers); and the Cython bridge
must declare every function and struct it takes from lossk.h exactly as the
header does. The compilers are optional: without them the compiling tests
show as skipped."""
import glob
import re
import os
import shutil
import subprocess
import sys

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


# ---- the bridge declares what the header declares ------------------------------------------

def _strip_comments(text):
    return re.sub(r"/\*.*?\*/", " ", text, flags=re.S)


def _param_types(params):
    """'const float *logits, int64_t n' -> ('const float *', 'int64_t'): the names dropped."""
    types = []
    for p in params.split(","):
        p = " ".join(p.replace("*", " * ").split())
        if p in ("", "void"):
            continue
        words = p.split(" ")
        types.append(" ".join(words[:-1]).replace(" *", "*"))
    return tuple(types)


def header_functions():
    text = _strip_comments(open(os.path.join(INCLUDE, "lossk.h")).read())
    found = re.findall(r"LOSSK_API\s+([\w\s\*]+?)\s*\b(lossk_\w+)\s*\(([^)]*)\)\s*;", text)
    return {name: (" ".join(ret.replace("*", " * ").split()).replace(" *", "*"), _param_types(params))
            for ret, name, params in found}


def header_structs():
    text = _strip_comments(open(os.path.join(INCLUDE, "lossk.h")).read())
    structs = {}
    for body, name in re.findall(r"typedef struct \w+\s*\{(.*?)\}\s*(\w+)\s*;", text, flags=re.S):
        fields = []
        for decl in body.split(";"):
            decl = " ".join(decl.replace("*", " * ").split())
            if not decl:
                continue
            base, _, names = decl.partition(" ")
            if base == "const" or base == "unsigned":
                more, _, names = names.partition(" ")
                base += " " + more
            for n in names.split(","):
                n = n.strip()
                fields.append((base + "*" * n.count("*"), n.replace("*", "").strip()))
        structs[name] = fields
    return structs


def bridge_declarations():
    """The functions and structs the bridge declares from lossk.h (cdef extern block)."""
    text = open(os.path.join(ROOT, "src", "lossk", "_kernels.pyx")).read()
    block = text[text.index('cdef extern from "lossk.h"'):]
    block = block[:re.search(r"\n\S", block[1:]).start() + 1]
    funcs = {name: (" ".join(ret.replace("*", " * ").split()).replace(" *", "*"), _param_types(params))
             for ret, name, params in re.findall(r"\n    ([\w \*]+?)\s*\b(lossk_\w+)\(([^)]*)\)", block)}
    structs = {}
    for name, body in re.findall(r"ctypedef struct (\w+):\n((?:        .*\n)+)", block):
        fields = []
        for line in body.strip().splitlines():
            first, *more = line.split(",")        # "int64_t inner, period": two fields
            decl = " ".join(first.replace("*", " * ").split())
            *base, n = decl.split(" ")
            base = " ".join(w for w in base if w != "*")
            for field in [n] + [m.strip() for m in more]:
                fields.append((base + "*" * (decl.count("*") if field == n else field.count("*")),
                               field.replace("*", "").strip()))
        structs[name] = fields
    return funcs, structs


@have_sources
def test_bridge_declarations_match_the_header():
    header = header_functions()
    funcs, structs = bridge_declarations()
    assert len(funcs) > 20
    for name, decl in funcs.items():
        assert name in header, f"_kernels.pyx declares {name}, which lossk.h does not"
        assert decl == header[name], f"{name}: bridge {decl} != header {header[name]}"
    hstructs = header_structs()
    for name, fields in structs.items():
        assert fields == hstructs[name], f"struct {name}: bridge {fields} != header {hstructs[name]}"


def test_the_cython_declarations_are_generated_from_this_header():
    """src/lossk/clossk.pxd is what tools/gen_pxd.py writes from lossk.h (so it declares
    exactly the stable API; test_c_package.py compiles and calls it)."""
    tool = os.path.join(ROOT, "tools", "gen_pxd.py")
    if not os.path.exists(tool):
        pytest.skip("tools/gen_pxd.py is not in this checkout")
    out = subprocess.run([sys.executable, tool, "--check"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
