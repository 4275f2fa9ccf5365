"""``import_python``: installed Python modules from EasyLang, values converted at the boundary."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from .conftest import ezlang


def _run(tmp_path: Path, source: str):
    script = tmp_path / "main.ez"
    script.write_text(textwrap.dedent(source), encoding="utf-8")
    return ezlang("run", str(script), cwd=tmp_path)


def test_module_attributes_and_calls_convert_values(tmp_path):
    (tmp_path / "helper_mod.py").write_text(
        textwrap.dedent(
            """
            import asyncio

            class Counter:
                def __init__(self, start):
                    self.count = start
                def add(self, n):
                    self.count += n
                    return self
                def pair(self):
                    return (self.count, "x")

            def echo(value):
                return value, type(value).__name__

            def call_back(fn, arg):
                return fn(arg) * 2

            async def later(x):
                await asyncio.sleep(0)
                return x + 1

            numbers = {1: "one", "k": {2, 3} - {3}}
            """
        ),
        encoding="utf-8",
    )
    res = _run(
        tmp_path,
        """
        let math = import_python("math")
        print(math.sqrt(16), math.floor(2.7), math.pi > 3, type(math), type(math.sqrt))
        let h = import_python("helper_mod")
        let c = h.Counter(5)
        print(type(c), c.count)
        print(c.add(2).add(3).count, c.pair())
        print(h.echo([1, "a", null, true, {k: [2.5]}]))
        print(h.call_back(func(x) { return x + 1 }, 20))
        print(h.later(41))
        print(h.numbers)
        print(h.no_such_thing)
        print(import_python("os.path").splitext("notes.txt"))
        print(import_python("json").dumps({a: [1, 2]}))
        """,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [
        "4 2 true object function",
        "object 5",
        '10 [10, "x"]',
        '[[1, "a", null, true, {"k": [2.5]}], "list"]',
        "42",
        "42",
        '{"1": "one", "k": [2]}',
        "null",
        '["notes", ".txt"]',
        '{"a": [1, 2]}',
    ]


def test_python_exception_is_an_easylang_error_at_the_ez_line(tmp_path):
    res = _run(
        tmp_path,
        """
        let math = import_python("math")
        try { math.sqrt(-1) } catch err { print(err.kind + " / " + err.message) }
        let x = 1
        let y = math.log(0)
        """,
    )
    assert res.returncode == 1
    assert res.stdout.splitlines() == ["Error / python: ValueError: math domain error"]
    lines = res.stderr.splitlines()
    assert lines[0] == "Error: python: ValueError: math domain error"
    assert lines[1].startswith(f"  at {tmp_path / 'main.ez'}:5:")
    assert "Traceback" not in res.stderr


def test_easylang_error_inside_a_callback_passes_through_unchanged(tmp_path):
    (tmp_path / "cb_mod.py").write_text("def run(fn):\n    return fn()\n", encoding="utf-8")
    res = _run(
        tmp_path,
        """
        let m = import_python("cb_mod")
        m.run(func() { return 1 + undefined_name })
        """,
    )
    assert res.returncode == 1
    assert res.stderr.startswith("NameError: 'undefined_name' is not defined")
    assert "Traceback" not in res.stderr


def test_missing_module_names_it_and_the_pip_command(tmp_path):
    res = _run(tmp_path, 'let x = 1\nlet m = import_python("no_such_module_ez")\n')
    assert res.returncode == 1
    assert res.stderr.splitlines()[:2] == [
        'ImportError: python module "no_such_module_ez" is not installed '
        f"(install it with: {sys.executable} -m pip install no_such_module_ez)",
        f"  at {tmp_path / 'main.ez'}:2:9",
    ]
    assert "Traceback" not in res.stderr


def test_missing_dependency_of_a_module_is_named(tmp_path):
    (tmp_path / "needs_dep.py").write_text("import not_installed_dep_ez\n", encoding="utf-8")
    res = _run(tmp_path, 'import_python("needs_dep")\n')
    assert res.returncode == 1
    assert res.stderr.splitlines()[0] == (
        'ImportError: python module "needs_dep" needs the module "not_installed_dep_ez", which '
        f"is not installed (install it with: {sys.executable} -m pip install not_installed_dep_ez)"
    )


def test_module_that_fails_to_load_and_bad_names(tmp_path):
    (tmp_path / "broken_mod.py").write_text("raise RuntimeError('boom')\n", encoding="utf-8")
    res = _run(
        tmp_path,
        """
        try { import_python("broken_mod") } catch e { print(e.kind, e.message) }
        try { import_python(5) } catch e { print(e.kind, e.message) }
        try { import_python("math").pi() } catch e { print(e.kind, e.message) }
        """,
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[:2] == [
        'ImportError python module "broken_mod" failed to load: RuntimeError: boom',
        'TypeError import_python() expects a module name such as "math", got number',
    ]
    # How the callee is named is the runtime's business; the kind and the reason are ours.
    assert lines[2].startswith("TypeError ")
    assert lines[2].endswith("pi is not a function (it is a number)")


def test_use_python_statement_binds_the_module(tmp_path):
    res = _run(
        tmp_path,
        """
        use python "math"
        use python "os.path" as p
        print(math.floor(math.pi), p.basename("/a/b.txt"))
        """,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout == "3 b.txt\n"
