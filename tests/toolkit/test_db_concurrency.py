"""``db_incr`` from 16 real processes at once loses no update, on both backends.

Every process first checks in and waits until all 16 have (so they really run at the same
time, not one after another as they finish starting), then adds to one integer counter and
one float counter. Each prints the values ``db_incr`` returned; if the processes had not
overlapped, each one's returns would be a contiguous run, so the test also proves contention.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .conftest import Backend, child_env

pytestmark = pytest.mark.timeout(240)

PROCESSES = 16
INCREMENTS = 150

PROGRAM = textwrap.dedent(
    """\
    const n = num(get_argument("N"))
    const total = num(get_argument("P"))
    db_incr("ready")
    const give_up = now() + 60000
    while db_get("ready") < total {
        if now() > give_up { error("the other processes never checked in") }
        wait(0.01)
    }
    let returned = []
    for i in range(n) {
        push(returned, db_incr("hits"))
        db_incr("halves", 0.5)
    }
    print(json_stringify(returned))
    """
)


def test_concurrent_incr_loses_no_update(tmp_path: Path, backend: Backend) -> None:
    prog = tmp_path / "incr.ez"
    prog.write_text(PROGRAM, encoding="utf-8")
    env = child_env(backend.env)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "ezlang", "run", str(prog), f"N={INCREMENTS}", f"P={PROCESSES}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    outputs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=200)
            assert proc.returncode == 0, err
            assert "Traceback" not in err
            outputs.append(out)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    import json

    returned = [json.loads(out) for out in outputs]
    # Every increment got its own result: the returns are exactly 1..16*N, none twice.
    everything = sorted(v for values in returned for v in values)
    assert everything == list(range(1, PROCESSES * INCREMENTS + 1))
    # The processes overlapped: at least one saw others' increments between its own.
    assert any(values[-1] - values[0] + 1 > INCREMENTS for values in returned)

    check = tmp_path / "check.ez"
    check.write_text('print(db_get("hits"), db_get("halves"), db_get("ready"))\n', encoding="utf-8")
    final = subprocess.run(
        [sys.executable, "-m", "ezlang", "run", str(check)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert final.returncode == 0 and "Traceback" not in final.stderr, final.stderr
    assert (
        final.stdout == f"{PROCESSES * INCREMENTS} {PROCESSES * INCREMENTS * 0.5:g} {PROCESSES}\n"
    )
