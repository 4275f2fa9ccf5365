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

The runner takes the folder as a parameter: ``tests/upstream/test_upstream.py`` runs the
programs written in the older EasyLang's style through the same functions (``discover``,
``run_all``, ``check``), with ``tests/upstream`` as their working directory.
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


def discover(folder: Path) -> list[str]:
    """The programs of a conformance folder: every ``NAME.ez`` directly in it."""
    return sorted(p.stem for p in folder.glob("*.ez"))


PROGRAMS = discover(HERE)
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


def _run(folder: Path, name: str) -> Outcome:
    args_file = folder / f"{name}.args"
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
            cwd=folder,
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


def run_all(folder: Path, names: list[str]) -> dict[str, Outcome]:
    """Run the programs ``names`` of ``folder``, a few processes at a time."""
    workers = max(2, min(8, (os.cpu_count() or 2) * 2))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(lambda name: _run(folder, name), names)
        return dict(zip(names, results, strict=True))


def check(folder: Path, name: str, got: Outcome) -> None:
    """Assert that program ``name`` of ``folder`` gave its expected output, code and errors."""
    expected_out = (folder / f"{name}.out").read_text()
    code_file = folder / f"{name}.code"
    expected_code = int(code_file.read_text()) if code_file.exists() else 0
    err_file = folder / f"{name}.err"

    assert "Traceback" not in got.stderr, f"Python traceback leaked:\n{got.stderr}"
    assert got.code == expected_code, f"exit code {got.code}, stderr:\n{got.stderr}"
    assert got.stdout == expected_out, f"stderr:\n{got.stderr}"
    if err_file.exists():
        for needle in err_file.read_text().splitlines():
            if needle:
                assert needle in got.stderr, f"{needle!r} not in stderr:\n{got.stderr}"
    else:
        assert got.stderr == "", f"unexpected stderr:\n{got.stderr}"


@pytest.fixture(scope="session")
def outcomes() -> dict[str, Outcome]:
    return run_all(HERE, PROGRAMS)


@pytest.mark.parametrize("name", PROGRAMS)
def test_program(name: str, outcomes: dict[str, Outcome]) -> None:
    check(HERE, name, outcomes[name])


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
