"""Fixtures for CLI tests: run ``python -m ezlang`` in a child process, bounded in time."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

TIMEOUT = 60
# Compiled-program cache of these runs: private to the test session, not the user's ~/.cache.
_CACHE_DIR = tempfile.mkdtemp(prefix="ezlang-cli-cache-")
atexit.register(shutil.rmtree, _CACHE_DIR, True)


def ezlang(
    *args: str,
    cwd: Path | None = None,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m ezlang ARGS`` and capture its output (UTF-8 text)."""
    full_env = dict(os.environ, PYTHONIOENCODING="utf-8", EZLANG_CACHE_DIR=_CACHE_DIR)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "ezlang", *args],
        cwd=cwd,
        input=stdin,
        env=full_env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
    )


@pytest.fixture
def ez() -> Callable[..., subprocess.CompletedProcess[str]]:
    """The :func:`ezlang` runner, as a fixture (test modules cannot import conftest)."""
    return ezlang


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """``write(name, text)`` creates a file under the test's temporary directory."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return _write
