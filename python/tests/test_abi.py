"""The package's cffi declarations (crest/_lib.py: ABI mode, so an installed package
needs no compiler) against the public C headers as the C compiler reads them: the
size of every struct and the offset and size of every field, the value of every
enum constant, and every function's and function pointer's prototype (C's own
type-compatibility rule: a const, an argument or a return type that differs is an
error). A header change the declarations do not follow fails here, by name."""

import os
import re
import shutil
import subprocess

import pytest

from conftest import BINARY, SOURCE
from crest._lib import CDEF, ffi, lib

INCLUDE_DIRS = [os.path.join(SOURCE, d) for d in ("engine/include", "engine/base/include", "models/include",
                                                   "engine/eval/include")] + [os.path.join(BINARY, "engine", "include")]


def compiler():
    cc = os.environ.get("CREST_CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler to read the headers with")
    return cc


def headers():
    """Every public header (crest/*.h) of the include directories."""
    names = []
    for d in INCLUDE_DIRS:
        sub = os.path.join(d, "crest")
        if os.path.isdir(sub):
            names += sorted("crest/" + n for n in os.listdir(sub) if n.endswith(".h"))
    assert "crest/crest_engine.h" in names and "crest/crest_replay.h" in names, INCLUDE_DIRS
    return names


def statements(cdef):
    """CDEF's top-level declarations, comments removed, one string each."""
    text = re.sub(r"/\*.*?\*/|//[^\n]*", " ", cdef, flags=re.S)
    out, depth, cur = [], 0, []
    for ch in text:
        cur.append(ch)
        depth += ch == "{"
        depth -= ch == "}"
        if ch == ";" and depth == 0:
            out.append(" ".join("".join(cur).split()))
            cur = []
    return out


def c_program():
    """A C program that prints the compiler's layout of what CDEF declares, and
    static assertions for its prototypes. Returns (source, expected lines)."""
    src = ["#include <stddef.h>", "#include <stdio.h>", "#include <stdlib.h>"]
    src += ['#include "%s"' % h for h in headers()]
    body, expected = [], []
    typedefs, structs, unions = ffi.list_types()
    for name in sorted(typedefs):
        t = ffi.typeof(name)
        if t.kind == "struct" and t.fields is not None:
            body.append('printf("size %s %%zu\\n", sizeof(%s));' % (name, name))
            expected.append("size %s %d" % (name, ffi.sizeof(t)))
            for fname, f in t.fields:
                body.append('printf("field %s.%s %%zu %%zu\\n", offsetof(%s, %s), sizeof(((%s *)0)->%s));'
                            % (name, fname, name, fname, name, fname))
                expected.append("field %s.%s %d %d" % (name, fname, f.offset, ffi.sizeof(f.type)))
        elif t.kind == "enum":
            body.append('printf("enum %s %%zu\\n", sizeof(%s));' % (name, name))
            expected.append("enum %s %d" % (name, ffi.sizeof(t)))
            for cname, value in sorted(t.relements.items()):
                body.append('printf("const %s %%lld\\n", (long long)%s);' % (cname, cname))
                expected.append("const %s %d" % (cname, value))
    checks = []
    for i, st in enumerate(statements(CDEF)):
        if "(" not in st or "{" in st:
            continue
        if st.startswith("typedef"):  # a function pointer type: the same type under another name
            m = re.search(r"\(\s*\*\s*(\w+)\s*\)", st)
            if not m:
                continue
            name = m.group(1)
            mine = st[:m.start(1)] + "crest_abi_t%d" % i + st[m.end(1):]
            checks.append((name, mine, "crest_abi_t%d" % i, name))
        else:  # a function: a pointer of the declared type must be the function's address type
            m = re.match(r"(.*?\b)(\w+)\s*\((.*)\)\s*;$", st)
            assert m, st
            name = m.group(2)
            if name == "free":
                continue
            mine = "%s(*crest_abi_f%d)(%s);" % (m.group(1), i, m.group(3))
            checks.append((name, mine, "__typeof__(crest_abi_f%d)" % i, "__typeof__(&%s)" % name))
    for name, decl, a, b in checks:
        src.append(decl)
        src.append('_Static_assert(__builtin_types_compatible_p(%s, %s), "prototype of %s differs from the header");'
                   % (a, b, name))
    src += ["int main(void)", "{"] + ["    " + b for b in body] + ["    return 0;", "}"]
    return "\n".join(src) + "\n", expected, [c[0] for c in checks]


def test_declarations_match_the_headers(tmp_path):
    source, expected, functions = c_program()
    assert len(functions) > 60 and len(expected) > 100  # the check covers the declarations
    (tmp_path / "abi.c").write_text(source)
    cmd = [compiler(), "-std=gnu11", "-o", str(tmp_path / "abi"), str(tmp_path / "abi.c")]
    for d in INCLUDE_DIRS:
        cmd += ["-I", d]
    r = subprocess.run(cmd, capture_output=True, text=True)
    errors = [l for l in r.stderr.splitlines() if "error" in l]
    assert r.returncode == 0, "the C compiler rejects the declarations:\n" + "\n".join(errors[:40])
    got = subprocess.run([str(tmp_path / "abi")], capture_output=True, text=True, check=True).stdout.splitlines()
    mismatches = [(w, g) for w, g in zip(expected, got) if w != g]
    assert len(got) == len(expected)
    assert not mismatches, "cffi declarations (crest/_lib.py) vs the C headers:\n" + "\n".join(
        "  _lib.py: %-50s C: %s" % m for m in mismatches)


def test_every_declared_function_is_exported():
    missing = []
    for st in statements(CDEF):
        m = re.match(r"(?!typedef).*?\b(\w+)\s*\(.*\)\s*;$", st)
        if m and "{" not in st:
            try:
                getattr(lib, m.group(1))
            except AttributeError:
                missing.append(m.group(1))
    assert not missing, "declared in crest/_lib.py, not exported by the libraries: %s" % missing
