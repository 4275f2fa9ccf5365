"""bench/discordjs_bench.py: without Node.js it says so and skips instead of failing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_skips_with_exit_0_and_a_message_when_node_is_missing(tmp_path: Path) -> None:
    # A PATH holding only this Python: no node, no npm.
    (tmp_path / "python3").symlink_to(sys.executable)
    env = {**os.environ, "PATH": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, str(BENCH / "discordjs_bench.py"), "--no-write"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "skipped: node and npm not on PATH" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_a_bad_config_is_refused_by_argparse() -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH / "discordjs_bench.py"), "--config", "four", "--no-write"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "expected NxG or NxG/MC, got 'four'" in proc.stderr
    assert "Traceback" not in proc.stderr
