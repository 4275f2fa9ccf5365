"""``ezlang repl`` through a pipe (no terminal: plain line reading, no prompt decorations)."""

from __future__ import annotations

import contextlib
import os
import select
import sys
import time

import pytest


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


class _Pty:
    """``ezlang repl`` on a pseudo-terminal: the prompt_toolkit path users get."""

    def __init__(self, home: str) -> None:
        import pty

        env = dict(
            os.environ, HOME=home, TERM="xterm", PYTHONIOENCODING="utf-8", PROMPT_TOOLKIT_NO_CPR="1"
        )
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # child
            os.execve(sys.executable, [sys.executable, "-m", "ezlang", "repl"], env)
        self.buf = b""

    def expect(self, token: bytes, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while token not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{token!r} not seen; got {self.buf[-400:]!r}")
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.2))
            if ready:
                try:
                    self.buf += os.read(self.fd, 4096)
                except OSError:
                    raise AssertionError(f"{token!r} not seen before exit") from None

    def send(self, data: bytes) -> None:
        self.buf = b""
        os.write(self.fd, data)

    def press_until_exit(self, key: bytes, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        last_press = 0.0
        while time.monotonic() < deadline:
            if time.monotonic() - last_press > 1:
                with contextlib.suppress(OSError):
                    os.write(self.fd, key)
                last_press = time.monotonic()
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            try:  # keep draining output so the child never blocks on a full pty
                if select.select([self.fd], [], [], 0.1)[0]:
                    os.read(self.fd, 4096)
            except OSError:
                pass
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        raise AssertionError("repl did not exit")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pty")
def test_repl_on_a_terminal_edits_remembers_and_interrupts(tmp_path):
    term = _Pty(str(tmp_path))
    try:
        term.expect(b"ez>")
        term.send(b"let x = 41\r")
        term.expect(b"ez>")
        term.send(b"x + 1\r")
        term.expect(b"42")
        term.send(b"func f() {\r")  # Enter inside an open brace continues the input
        term.expect(b"...")
        term.send(b"return 7 }\r")
        term.expect(b"ez>")
        term.send(b"f()\r")
        term.expect(b"7")
        term.expect(b"ez>")
        term.send(b"while true { }\r")  # a busy loop that never pauses
        term.expect(b"\x1b[?2004l")  # the prompt has handed the terminal back
        # Ctrl-C stops the loop, not the REPL. The key only becomes a signal once the prompt
        # has restored the terminal's normal mode, so press it until the loop stops.
        for _ in range(20):
            os.write(term.fd, b"\x03")
            try:
                term.expect(b"interrupted", timeout=1)
                break
            except AssertionError:
                continue
        term.expect(b"interrupted", timeout=1)
        term.expect(b"ez>")
        term.send(b"x\r")
        term.expect(b"41")
        term.expect(b"ez>")
        # Ctrl-D leaves. Like Ctrl-C, the terminal eats the key if it comes in the instant
        # between two prompts (normal mode), so press it until the REPL has gone.
        assert term.press_until_exit(b"\x04") == 0
    finally:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(term.pid, 9)
            os.waitpid(term.pid, 0)
    history = (tmp_path / ".ezlang_history").read_text()
    assert "+let x = 41" in history
    assert "+func f() {\n+return 7 }" in history  # a multi-line input is one history entry


def test_repl_help_prints_the_guide_and_exit_leaves_before_later_input(ez):
    from ezlang.lang.repl import HELP_TEXT

    res = ez("repl", stdin="let n = 1\nhelp\nn + 1\nexit\nprint(99)\n")
    assert res.returncode == 0, res.stderr
    assert res.stdout == HELP_TEXT + "\n2\n"
    assert res.stderr == ""
    for word in ("quit", "exit()", "quit()", "  exit  "):
        res = ez("repl", stdin=f"print(1)\n{word}\nprint(2)\n")
        assert (res.returncode, res.stdout, res.stderr) == (0, "1\n", ""), word


def test_completions_offer_defined_names_builtins_keywords_and_object_keys():
    import ezlang.extensions
    from ezlang.lang.repl import ReplSession, completions
    from ezlang.lang.values import ErrorValue

    ezlang.extensions.install()
    ns = ReplSession().namespace
    ns.update(
        counter=1, count_words=None, config={"token": 1, "prefix": "!"}, err=ErrorValue("E", "m")
    )
    assert completions("print(cou", ns) == ["count_words", "counter"]
    assert completions("pri", ns) == ["print"]
    assert completions("fs_read", ns) == ["fs_read_dir", "fs_read_file"]  # lazy builtins too
    assert completions("con", ns) == [
        "config",
        "configure_all_intents",
        "configure_intents",
        "const",
        "contains",
        "continue",
    ]
    assert completions("ex", ns) == ["exit"]
    assert completions("config.p", ns) == ["prefix"]
    assert completions("x = config.", ns) == ["prefix", "token"]
    assert completions("err.m", ns) == ["message"]
    assert completions("counter.", ns) == []  # a number has no keys
    assert completions("a.config.", ns) == []  # a chain would need evaluating
    assert completions("print(", ns) == []
    assert completions("12", ns) == []
    assert all("$" not in name and not name.startswith("__") for name in completions("_", ns))


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pty")
def test_tab_completes_names_on_a_terminal(tmp_path):
    term = _Pty(str(tmp_path))
    try:
        term.expect(b"ez>")
        term.send(b"let unique_counter = 41\r")
        term.expect(b"ez>")
        term.send(b"300 + 33\r")  # its output proves the echo of the line above is done
        term.expect(b"333")
        term.expect(b"ez>")
        term.send(b"unique_cou\t")  # a single match is inserted whole
        term.expect(b"nter")  # only the completion can print this now
        term.send(b" + 1\r")
        term.expect(b"42")
        term.expect(b"ez>")
        term.send(b"exit\r")
        assert term.press_until_exit(b"") == 0
    finally:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(term.pid, 9)
            os.waitpid(term.pid, 0)
