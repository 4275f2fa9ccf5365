"""``ezlang repl`` through a pipe (no terminal: plain line reading, no prompt decorations)."""

from __future__ import annotations


def test_repl_prints_expression_values_and_keeps_state(ez):
    script = "\n".join(
        [
            "let x = 20",
            "x + 22",
            '"text"',
            '[1, "a"]',
            'print("printed once")',
            "null",
            "x = x * 2",
            "x",
        ]
    )
    res = ez("repl", stdin=script + "\n")
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["42", '"text"', '[1, "a"]', "printed once", "40"]


def test_repl_multi_line_input_while_braces_are_open(ez):
    script = "func add(a, b) {\n    return a +\n        b\n}\nadd(2, 3)\nlet o = {\n  k: [1,\n  2]\n}\no.k\n"
    res = ez("repl", stdin=script)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["5", "[1, 2]"]


def test_repl_keeps_going_after_errors(ez):
    script = "print(1)\nprint(undefined_thing)\nlet = 2\nprint(2)\n1 / 1\n"
    res = ez("repl", stdin=script)
    assert res.returncode == 0
    assert res.stdout.splitlines() == ["1", "2", "1"]
    assert "NameError" in res.stderr and "undefined_thing" in res.stderr
    assert "SyntaxError" in res.stderr
    assert "Traceback" not in res.stderr


def test_repl_functions_can_wait(ez):
    res = ez("repl", stdin="func later() { wait(0.01)\n return 7 }\nlater()\n")
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["7"]


def test_repl_end_of_input_exits_0(ez):
    res = ez("repl", stdin="")
    assert (res.returncode, res.stdout) == (0, "")
