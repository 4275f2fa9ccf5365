"""``ezlang run``: exit codes, positioned errors, NAME=value arguments, --debug, entry points."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest


def test_successful_program_exits_0(ez, write):
    prog = write("hello.ez", 'print("hello", 1 + 2)\n')
    res = ez("run", str(prog))
    assert (res.returncode, res.stdout, res.stderr) == (0, "hello 3\n", "")


def test_runtime_error_exits_1_with_kind_message_and_position(ez, write, tmp_path):
    write("bad.ez", 'let x = 1\nprint("before")\nprint(nope)\n')
    res = ez("run", "bad.ez", cwd=tmp_path)
    assert res.returncode == 1
    assert res.stdout == "before\n"
    assert "NameError" in res.stderr
    assert "nope" in res.stderr
    assert "bad.ez:3:7" in res.stderr
    assert "print(nope)" in res.stderr  # the source line is shown
    assert "Traceback" not in res.stderr


def test_syntax_error_exits_1_before_anything_runs(ez, write, tmp_path):
    write("syn.ez", 'print("must not run")\nlet = 3\n')
    res = ez("run", "syn.ez", cwd=tmp_path)
    assert res.returncode == 1
    assert res.stdout == ""
    assert "SyntaxError" in res.stderr and "syn.ez:2:" in res.stderr


def test_missing_file_is_a_usage_error(ez, tmp_path):
    res = ez("run", str(tmp_path / "absent.ez"))
    assert res.returncode == 2
    assert "file not found" in res.stderr
    assert res.stderr.startswith("usage: ezlang run FILE")


def test_directory_instead_of_file_is_a_usage_error(ez, tmp_path):
    res = ez("run", str(tmp_path))
    assert res.returncode == 2
    assert "not a file" in res.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["run"],
        ["run", "x.ez", "--no-such-flag"],
        ["frobnicate"],
        [],
        ["run", "x.ez", "not-an-assignment"],
        ["run", "x.ez", "1BAD=value"],
        ["check"],
        ["test"],
    ],
)
def test_usage_errors_exit_2_with_a_short_usage_line(ez, write, tmp_path, argv):
    write("x.ez", "print(1)\n")
    res = ez(*argv, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert res.stdout == ""
    assert "error" in res.stderr
    assert "usage:" in res.stderr
    assert "Traceback" not in res.stderr


def test_version(ez):
    res = ez("--version")
    assert res.returncode == 0
    assert res.stdout.startswith("ezlang ")


def test_arguments_reach_get_argument_before_the_environment(ez, write):
    prog = write(
        "args.ez",
        'print(get_argument("TOKEN"), get_argument("MODE", "dev"), get_argument("FROM_ENV"))\n'
        'print(get_argument("ONLY_ENV"))\n',
    )
    res = ez(
        "run", str(prog), "TOKEN=abc=def", "FROM_ENV=cli", env={"FROM_ENV": "env", "ONLY_ENV": "e"}
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout == "abc=def dev cli\ne\n"


def test_flags_may_follow_the_arguments(ez, write):
    prog = write("a.ez", 'print(get_argument("N"))\nprint(nope)\n')
    res = ez("run", str(prog), "N=1", "--debug")
    assert res.returncode == 1
    assert res.stdout == "1\n"


def test_debug_shows_python_internals_and_plain_run_does_not(ez, write):
    prog = write("err.ez", "func f(x) {\n    return x.y.z\n}\nf({})\n")
    plain = ez("run", str(prog))
    debug = ez("run", str(prog), "--debug")
    assert plain.returncode == debug.returncode == 1
    assert "err.ez:2:" in plain.stderr and "err.ez:2:" in debug.stderr
    assert ".py" not in plain.stderr
    assert ".py" in debug.stderr  # the Python frames behind the error


def test_file_shortcut_without_run(ez, write):
    prog = write("short.ez", "print(40 + 2)\n")
    res = ez(str(prog))
    assert (res.returncode, res.stdout) == (0, "42\n")


def test_easylang_ezlang_and_python_m_are_the_same_entry_point(write):
    prog = write("same.ez", 'print("same")\n')
    commands = [[sys.executable, "-m", "ezlang", "run", str(prog)]]
    for script in ("ezlang", "easylang"):
        exe = shutil.which(script)
        assert exe, f"console script {script} is not installed"
        commands.append([exe, "run", str(prog)])
    for cmd in commands:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert (res.returncode, res.stdout) == (0, "same\n"), cmd


def test_output_is_written_in_order_with_errors(ez, write):
    # stdout is flushed before the error goes to stderr, so a terminal shows them in order.
    prog = write("order.ez", 'for i in range(3) { print(i) }\nerror("stop")\n')
    res = ez("run", str(prog))
    assert res.returncode == 1
    assert res.stdout == "0\n1\n2\n"
    assert "Error" in res.stderr and "stop" in res.stderr


def test_print_output_is_line_buffered_through_a_pipe(write):
    # A long-running bot's log must not sit in a buffer: each line arrives as it is printed.
    prog = write("slow.ez", 'print("first line")\nwait(60)\nprint("never reached")\n')
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ezlang", "run", str(prog)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "first line\n"  # arrives while the program waits
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert proc.returncode == 0  # SIGTERM is a clean stop


def test_ezlang_extension_is_accepted(ez, write):
    prog = write("legacy.ezlang", 'print("also fine")\n')
    assert ez("run", str(prog)).stdout == "also fine\n"
    assert ez(str(prog)).stdout == "also fine\n"
    assert ez("check", str(prog)).returncode == 0


def test_closed_stdout_pipe_stops_the_program_quietly(write):
    # `ezlang run prog.ez | head -1`: once the reader is gone the program ends, exit 0.
    prog = write("yes.ez", 'while true {\n    print("y")\n}\n')
    proc = subprocess.Popen(
        [sys.executable, "-m", "ezlang", "run", str(prog)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline() == "y\n"
    proc.stdout.close()
    try:
        err = proc.stderr.read()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert err == ""
