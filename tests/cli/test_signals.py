"""SIGINT/SIGTERM: run the shutdown hooks (newest first), then exit 0 — also from a busy loop.

The shutdown hooks and keepalive futures are what the bot runtime and the shard manager
use; here a tiny Python driver registers two test builtins that use them, then calls
``ezlang.lang.runner.run_file`` exactly as the CLI does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

DRIVER = textwrap.dedent(
    """
    import asyncio, sys
    from ezlang.lang import context
    from ezlang.lang.registry import register
    from ezlang.lang.runner import run_file

    def on_stop(label):
        async def hook():
            await asyncio.sleep(0)
            print("hook", label, flush=True)
        context.current().on_shutdown(hook)

    def keep_running():
        context.current().keep_alive(asyncio.get_running_loop().create_future())

    def fail_later(message):
        # A background task the process waits for (like a bot) that fails after a moment.
        from ezlang.lang.errors import EzError

        async def boom():
            await asyncio.sleep(0.05)
            raise EzError("DiscordError", message)

        context.current().keep_alive(asyncio.ensure_future(boom()))

    register("on_stop", on_stop)
    register("keep_running", keep_running)
    register("fail_later", fail_later)
    sys.exit(run_file(sys.argv[1]))
    """
)


def _start(tmp_path: Path, program: str) -> subprocess.Popen[str]:
    prog = tmp_path / "prog.ez"
    prog.write_text(program)
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(prog)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_line(proc: subprocess.Popen[str], expected: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.strip() == expected:
            return
        if not line and proc.poll() is not None:
            break
    proc.kill()
    pytest.fail(f"never saw {expected!r}; stderr: {proc.stderr.read() if proc.stderr else ''}")


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"process did not stop; stderr: {err}")
    return proc.returncode, out, err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_runs_shutdown_hooks_newest_first_and_exits_0(tmp_path, sig):
    proc = _start(
        tmp_path,
        'on_stop("first")\non_stop("second")\nprint("ready")\nwhile true { wait(0.05) }\n',
    )
    _wait_for_line(proc, "ready")
    os.kill(proc.pid, sig)
    code, out, err = _finish(proc)
    assert code == 0, err
    assert out.splitlines() == ["hook second", "hook first"]
    assert "Traceback" not in err


def test_ctrl_c_stops_a_busy_loop_that_never_waits(tmp_path):
    proc = _start(
        tmp_path, 'on_stop("cleanup")\nprint("ready")\nlet n = 0\nwhile true { n += 1 }\n'
    )
    _wait_for_line(proc, "ready")
    os.kill(proc.pid, signal.SIGINT)
    code, out, err = _finish(proc)
    assert code == 0, err
    assert out.splitlines() == ["hook cleanup"]


def test_keepalive_keeps_the_process_up_after_the_script_ends(tmp_path):
    proc = _start(tmp_path, 'on_stop("bye")\nkeep_running()\nprint("ready")\n')
    _wait_for_line(proc, "ready")
    # The script has ended; the process must still be alive because of the keepalive future.
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(timeout=0.3)  # it does NOT exit on its own
    os.kill(proc.pid, signal.SIGTERM)
    code, out, _ = _finish(proc)
    assert code == 0
    assert out.splitlines() == ["hook bye"]


def test_error_in_the_script_still_runs_shutdown_hooks_and_exits_1(tmp_path):
    proc = _start(tmp_path, 'on_stop("after error")\nerror("bad")\n')
    code, out, err = _finish(proc)
    assert code == 1
    assert out.splitlines() == ["hook after error"]
    assert "bad" in err


def test_try_catch_in_the_program_cannot_swallow_ctrl_c(tmp_path):
    proc = _start(
        tmp_path,
        'on_stop("done")\nprint("ready")\nlet n = 0\n'
        'while true {\n    try { n += 1 } catch e { print("caught", e.kind) }\n}\n',
    )
    _wait_for_line(proc, "ready")
    os.kill(proc.pid, signal.SIGINT)
    code, out, err = _finish(proc)
    assert code == 0, err
    assert out.splitlines() == ["hook done"]


def test_a_failing_keepalive_task_is_reported_and_exits_1(tmp_path):
    proc = _start(tmp_path, 'on_stop("cleaned")\nfail_later("login failed")\nprint("ready")\n')
    code, out, err = _finish(proc)
    assert code == 1
    assert out.splitlines() == ["ready", "hook cleaned"]
    assert "DiscordError" in err and "login failed" in err
    assert "Traceback" not in err
