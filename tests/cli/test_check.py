"""``ezlang check FILE...``: syntax errors, undefined names and wrong builtin calls; nothing
runs."""

from __future__ import annotations

import asyncio
import inspect
import textwrap

import pytest

from ezlang.lang.check import _OPTIONAL_FIRST, Problem, check_source


def _check(source: str) -> list[str]:
    """The problems of ``source`` as ``line:col: Kind: message`` strings."""
    import ezlang.extensions
    import ezlang.lang.builtins  # noqa: F401

    ezlang.extensions.install()
    return [
        f"{p.line}:{p.col}: {p.kind}: {p.message}"
        for p in check_source(textwrap.dedent(source), "<check>")
    ]


def test_check_passes_valid_files_without_running_them(ez, write, tmp_path):
    a = write("a.ez", 'print("side effect")\nfunc f(x) { return x }\n')
    b = write("b.ez", 'fs_write_file("made.txt", "x")\nlet y = f2()\nfunc f2() { return 1 }\n')
    res = ez("check", str(a), str(b))
    assert res.returncode == 0, res.stderr
    assert "side effect" not in res.stdout
    assert res.stdout.splitlines() == [f"{a}: ok", f"{b}: ok"]
    assert not (tmp_path / "made.txt").exists()


def test_check_reports_every_undefined_name_with_position_and_suggestion(ez, write):
    bad = write(
        "bad.ez",
        'let count = 0\npirnt("hi")\nfunc f() {\n    return cuont + missing\n}\nf()\n',
    )
    res = ez("check", str(bad))
    assert res.returncode == 1
    assert res.stdout == ""
    assert res.stderr == (
        f"{bad}:2:1: NameError: 'pirnt' is not defined (did you mean 'print'?)\n"
        '    pirnt("hi")\n'
        "    ^\n"
        f"{bad}:4:12: NameError: 'cuont' is not defined (did you mean 'count'?)\n"
        "    return cuont + missing\n"
        "           ^\n"
        f"{bad}:4:20: NameError: 'missing' is not defined\n"
        "    return cuont + missing\n"
        "                   ^\n"
        f"{bad}: 3 problems found\n"
    )


def test_names_the_program_defines_anywhere_it_can_see_are_not_reported():
    assert (
        _check(
            """
            func uses_later() { return later + helper() + implicit }
            let later = 1
            func helper() { return counter }
            if true { implicit = 2 }
            counter = 0
            for item in [1, 2] { print(item) }
            try { error("x") } catch err { print(err.message) } finally { print("done") }
            let f = func(a, b) { let c = a + b
                return func() { return c + a } }
            func rec(n) { if n > 0 { return rec(n - 1) } return n }
            listen "messageCreate" (message) { print(message.content, later) }
            func shadow() { let print = 5
                return print(1, 2, 3) }
            let o = {k: later, m: [uses_later]}
            while false { let w = 1
                print(w) }
            { let b = 1
              print(b) }
            """
        )
        == []
    )


def test_block_scoped_names_are_not_visible_outside_their_block():
    assert _check(
        """
        if true { let inner = 1 }
        print(inner)
        for x in [1] { }
        print(x)
        try { } catch e { }
        print(e)
        func f(p) { }
        print(p)
        """
    ) == [
        "3:7: NameError: 'inner' is not defined",
        "5:7: NameError: 'x' is not defined",
        "7:7: NameError: 'e' is not defined",
        "9:7: NameError: 'p' is not defined",
    ]


def test_wrong_argument_counts_of_builtins_are_reported():
    assert _check(
        """
        print(upper("a", "b"), upper(), range(1, 2, 3, 4), range(5), random(), random(1, 6))
        print(min(), max(1, 2, 3, 4, 5), push([], 1, 2), fs_read_file(), fs_read_dir())
        print(import_python("math", 2), path_join("a", "b", "c"), db_get("k", 1, 2))
        """
    ) == [
        "2:7: ArgumentError: upper() takes 1 argument, got 2",
        "2:24: ArgumentError: upper() needs 1 argument, got 0",
        "2:33: ArgumentError: range() takes at most 3 arguments, got 4",
        "3:34: ArgumentError: push() takes at most 2 arguments, got 3",
        "3:50: ArgumentError: fs_read_file() needs 1 argument, got 0",
        "4:7: ArgumentError: import_python() takes 1 argument, got 2",
        "4:59: ArgumentError: db_get() takes at most 2 arguments, got 3",
    ]


def test_imported_files_define_their_names(write, tmp_path):
    write("lib.ez", 'let shared = 1\nimport "deeper.ez"\nfunc helper() { return 2 }\n')
    write("deeper.ez", 'import "lib.ez"\ndeep = 3\n')
    main = write(
        "main.ez",
        'import "lib"\nimport "deeper.ez" as d\nprint(shared, helper(), deep, d.deep, nope)\n',
    )
    from ezlang.lang.check import check_file

    assert check_file(str(main)) == [
        Problem(str(main), 3, 39, "NameError", "'nope' is not defined")
    ]


def test_an_import_that_cannot_be_read_is_reported_and_its_names_are_not_guessed(ez, write):
    write("broken.ez", "let = 1\n")
    main = write("main.ez", 'import "missing.ez"\nimport "broken.ez" as b\nprint(anything)\n')
    res = ez("check", str(main))
    assert res.returncode == 1
    lines = [line for line in res.stderr.splitlines() if not line.startswith("    ")]
    assert lines == [
        f'{main}:1:1: ImportError: cannot import "missing.ez": no file {main.parent}/missing.ez',
        f'{main}:2:1: ImportError: cannot import "broken.ez": {main.parent}/broken.ez has a '
        f"SyntaxError at {main.parent}/broken.ez:1:5: expected a variable name after 'let', "
        "found '='",
        f"{main}: 2 problems found",
    ]


def _leading_sentinel_builtins() -> list[str]:
    import ezlang.extensions
    import ezlang.lang.builtins  # noqa: F401
    from ezlang.lang.registry import BUILTINS, _LazyBuiltin, resolve

    ezlang.extensions.install()
    names = []
    for name, fn in sorted(BUILTINS.items()):
        if isinstance(fn, _LazyBuiltin) and not fn.module.startswith("ezlang.toolkit"):
            continue  # Discord and sharding builtins need a bot; the toolkit and core do not
        try:
            params = list(inspect.signature(resolve(fn)).parameters.values())
        except (TypeError, ValueError):  # no signature: the checker does not judge it either
            continue
        if params and type(params[0].default) is object and name not in _OPTIONAL_FIRST:
            names.append(name)
    return names


@pytest.mark.parametrize("name", _leading_sentinel_builtins())
def test_a_builtin_whose_first_parameter_has_a_sentinel_rejects_no_arguments(name):
    """The checker treats such a parameter as required (check._arity); prove it is."""
    from ezlang.lang import call_async, to_ez_error
    from ezlang.lang.registry import BUILTINS, resolve

    fn = resolve(BUILTINS[name])
    with pytest.raises(Exception) as caught:
        asyncio.run(call_async(fn))
    assert to_ez_error(caught.value, locate=False).kind in ("TypeError", "ArgumentError")


def test_check_reports_every_failing_file_with_its_position(ez, write, tmp_path):
    write("good.ez", "print(1)\n")
    write("bad1.ez", "let x = (1 +\n")
    write("bad2.ez", "print(1)\nlet 5 = 3\n")
    res = ez("check", "good.ez", "bad1.ez", "bad2.ez", cwd=tmp_path)
    assert res.returncode == 1
    assert "good.ez: ok" in res.stdout
    assert res.stderr.count("SyntaxError") == 2
    assert "bad1.ez:" in res.stderr
    assert "bad2.ez:2:5" in res.stderr


def test_check_missing_file_is_a_usage_error(ez, tmp_path):
    res = ez("check", str(tmp_path / "nope.ez"))
    assert res.returncode == 2


def test_use_python_and_include_bind_names(write):
    write("lib.ez", "let from_lib = 1\n")
    main = write(
        "main.ez",
        'use python "math"\nuse python "os.path" as p\ninclude "lib.ez"\n'
        "print(math.pi, p, path, from_lib, os)\n",
    )
    from ezlang.lang.check import check_file

    assert [(p.line, p.col, p.message) for p in check_file(str(main))] == [
        (4, 19, "'path' is not defined (did you mean 'math'?)"),
        (4, 35, "'os' is not defined"),
    ]
