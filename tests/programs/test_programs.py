"""The EasyLang conformance suite: every ``tests/programs/NAME.ez`` run through ``ezlang run``.

Each program comes with:

* ``NAME.out``  — the exact expected stdout;
* ``NAME.err``  — (error cases) substrings that stderr must contain, one per line — kind,
  message, ``NAME.ez:LINE:COL``; without it stderr must be empty;
* ``NAME.code`` — the expected exit code (default 0);
* ``NAME.args`` — extra command-line words after the file (``NAME=value`` arguments).

Every program runs through the real CLI in its own process (``python -m ezlang run``), with
``tests/programs`` as the working directory and ``EZ_CONFORMANCE_ENV=from-env`` in the
environment. The processes run a few at a time in a session fixture, so the whole suite
costs a few seconds rather than one interpreter start after another.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PROGRAMS = sorted(p.stem for p in HERE.glob("*.ez"))
TIMEOUT = 60
# Compiled-program cache of these runs: private to the test session, not the user's ~/.cache.
_CACHE_DIR = tempfile.mkdtemp(prefix="ezlang-programs-cache-")
atexit.register(shutil.rmtree, _CACHE_DIR, True)

CORE_BUILTINS = """
print str num int type typeof length range push pop append insert remove slice reverse sort
keys object_keys values has_key contains index_of split join replace upper lower trim
starts_with ends_with substr floor ceil round abs min max sqrt pow random random_int time now
wait sleep get_argument get_env json_parse json_stringify error assert
""".split()


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


def _run(name: str) -> Outcome:
    args_file = HERE / f"{name}.args"
    extra = args_file.read_text().split() if args_file.exists() else []
    env = dict(
        os.environ,
        EZ_CONFORMANCE_ENV="from-env",
        PYTHONIOENCODING="utf-8",
        EZLANG_CACHE_DIR=_CACHE_DIR,
    )
    env.pop("EZ_NOT_SET_ANYWHERE", None)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "ezlang", "run", f"{name}.ez", *extra],
            cwd=HERE,
            env=env,
            capture_output=True,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        return Outcome(-1, (exc.stdout or b"").decode(), f"timed out after {TIMEOUT} s")
    return Outcome(
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
    )


@pytest.fixture(scope="session")
def outcomes() -> dict[str, Outcome]:
    workers = max(2, min(8, (os.cpu_count() or 2) * 2))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(PROGRAMS, pool.map(_run, PROGRAMS), strict=True))


@pytest.mark.parametrize("name", PROGRAMS)
def test_program(name: str, outcomes: dict[str, Outcome]) -> None:
    got = outcomes[name]
    expected_out = (HERE / f"{name}.out").read_text()
    code_file = HERE / f"{name}.code"
    expected_code = int(code_file.read_text()) if code_file.exists() else 0
    err_file = HERE / f"{name}.err"

    assert "Traceback" not in got.stderr, f"Python traceback leaked:\n{got.stderr}"
    assert got.code == expected_code, f"exit code {got.code}, stderr:\n{got.stderr}"
    assert got.stdout == expected_out, f"stderr:\n{got.stderr}"
    if err_file.exists():
        for needle in err_file.read_text().splitlines():
            if needle:
                assert needle in got.stderr, f"{needle!r} not in stderr:\n{got.stderr}"
    else:
        assert got.stderr == "", f"unexpected stderr:\n{got.stderr}"


def test_suite_is_large_enough() -> None:
    assert len(PROGRAMS) >= 60


def test_every_program_has_expected_output() -> None:
    missing = [n for n in PROGRAMS if not (HERE / f"{n}.out").exists()]
    assert not missing


def test_every_core_builtin_is_exercised() -> None:
    text = "\n".join((HERE / f"{n}.ez").read_text() for n in PROGRAMS)
    unused = [b for b in CORE_BUILTINS if not re.search(rf"\b{b}\(", text)]
    assert not unused, f"builtins without a conformance program: {unused}"


def test_error_programs_state_kind_and_position() -> None:
    """Every error case checks an error kind and a ``file:line`` position."""
    for name in PROGRAMS:
        err_file = HERE / f"{name}.err"
        if not err_file.exists():
            continue
        text = err_file.read_text()
        assert re.search(r"[A-Za-z]*Error", text), name
        assert re.search(r"\.ez:\d+", text), name
