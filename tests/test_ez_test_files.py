"""The EasyLang test files (``tests/**/*-test.ez``, ``*.test.ez``) pass under ``ezlang test``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
EZ_TEST_FILES = sorted(
    p
    for p in TESTS.rglob("*.ez")
    if p.name.endswith(("-test.ez", ".test.ez"))
    and "programs" not in p.parts
    and "cli" not in p.parts
)


@pytest.mark.parametrize("path", EZ_TEST_FILES, ids=lambda p: str(p.relative_to(TESTS)))
def test_easylang_test_file_passes(path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ezlang", "test", str(path)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    summary = re.search(r"^(\d+) passed, (\d+) failed$", proc.stdout, re.M)
    assert summary, f"no summary line:\n{proc.stdout}\n{proc.stderr}"
    passed, failed = int(summary.group(1)), int(summary.group(2))
    assert (failed, proc.returncode) == (0, 0), proc.stdout + proc.stderr
    assert passed >= 1


def test_there_are_easylang_test_files() -> None:
    assert any(p.name == "sharding-test.ez" for p in EZ_TEST_FILES)
