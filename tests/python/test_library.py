"""Loading libattnjit.so and the ctypes declarations against include/attnjit/attnjit.h (no GPU)."""
import os
import re
import subprocess
import sys

import pytest

pytest.importorskip("torch")

import attnjit
from attnjit import _abi, _library


def header_struct_fields(repo, name):
    text = open(os.path.join(repo, "include", "attnjit", "attnjit.h")).read()
    body = re.search(r"typedef struct %s \{(.*?)\} %s;" % (name, name), text, re.S).group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    fields = []
    for declaration in body.split(";"):
        words = declaration.replace(",", " , ").split()
        if not words:
            continue
        names = " ".join(words[1:]).split(",")  # the first word is the type
        fields += [n.strip() for n in names if n.strip()]
    return fields


@pytest.mark.parametrize("struct, cls", [("attnjit_mta_problem", _abi.MtaProblem), ("attnjit_na_problem", _abi.NaProblem)])
def test_problem_structs_match_the_header(repo, struct, cls):
    assert [name for name, _ in cls._fields_] == header_struct_fields(repo, struct)


def test_every_prototype_is_declared_in_the_header(repo):
    text = open(os.path.join(repo, "include", "attnjit", "attnjit.h")).read()
    declared = set(re.findall(r"\b(attnjit_\w+)\(", text))
    assert set(_abi.PROTOTYPES) <= declared


def test_the_library_loads_and_reports_its_version():
    assert re.match(r"\d+\.\d+", attnjit.version())
    assert os.path.isfile(attnjit.library_path())


def run_python(code, **env):
    full_env = dict(os.environ, **env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env,
                          cwd=os.path.dirname(os.path.abspath(__file__)))


def test_a_wrong_ATTNJIT_LIBRARY_is_reported_with_what_was_tried(repo):
    code = ("import sys; sys.path.insert(0, %r)\n"
            "import attnjit\n"
            "try:\n    attnjit.version()\n"
            "except attnjit.LibraryError as e:\n    print(e)\n") % os.path.join(repo, "python")
    result = run_python(code, ATTNJIT_LIBRARY="/nonexistent/libattnjit.so")
    assert "/nonexistent/libattnjit.so ($ATTNJIT_LIBRARY): no such file" in result.stdout, result.stderr
    assert "ATTNJIT_LIBRARY" in result.stdout and "cmake" in result.stdout


def test_lookup_order_is_env_then_package_then_repository_build(monkeypatch):
    monkeypatch.setenv("ATTNJIT_LIBRARY", "/x/libattnjit.so")
    origins = [origin for _, origin in _library.candidates()]
    assert origins == ["$ATTNJIT_LIBRARY", "the installed package", "the repository's build folder"]
    monkeypatch.delenv("ATTNJIT_LIBRARY")
    assert [origin for _, origin in _library.candidates()] == origins[1:]


def test_a_missing_entry_point_names_the_library_and_what_to_do(monkeypatch):
    monkeypatch.setitem(_abi.PROTOTYPES, "attnjit_no_such_entry", (None, []))
    with pytest.raises(attnjit.LibraryError, match="no entry point attnjit_no_such_entry.*rebuild"):
        _library.function("attnjit_no_such_entry")


def test_importing_needs_no_library(repo):
    code = ("import sys; sys.path.insert(0, %r)\n"
            "import attnjit, attnjit.liger, attnjit.nn, attnjit.functional; print('ok')") % os.path.join(repo, "python")
    result = run_python(code, ATTNJIT_LIBRARY="/nonexistent/libattnjit.so")
    assert result.stdout.strip() == "ok", result.stderr
