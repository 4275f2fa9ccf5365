"""bench/join_storm_bench.py runs end to end with tiny numbers and reports every join handled."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_join_storm_bench_runs_with_tiny_numbers() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH / "join_storm_bench.py"), "--members", "50", "--rounds", "1",
         "--no-write"],
        capture_output=True, text=True, timeout=120, env=dict(os.environ), cwd=BENCH,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    row = re.search(
        r"^\| 50 \| ([\d.]+) \| ([\d,]+) \| ([\d.]+) MB → ([\d.]+) MB", run.stdout, re.M
    )
    assert row, run.stdout
    assert float(row.group(1)) > 0 and int(row.group(2).replace(",", "")) > 0
    assert float(row.group(3)) > 10, run.stdout  # the bot's RSS was read from /proc
