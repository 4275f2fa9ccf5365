"""EasyLang vs plain Python: start-up, recursion, a hot loop and string building.

Runs every program of ``bench/lang/`` (``NAME.ez`` beside its twin ``NAME.py``) as a child
process, ``--repeat`` times each, interleaving the two languages so that machine load hits
both alike, and reports per program the best wall time, the compute time (wall minus the
best wall of the empty program of the same language), the ezlang/Python compute ratio and
the child's peak RSS (``ru_maxrss`` from ``os.wait4``).

    python bench/lang_bench.py [--repeat 5] [--write bench/RESULTS-lang.md]

Targets (issue 2): fib(30) and the million-iteration loop at most 3x Python compute;
``ezlang run empty.ez`` under 0.25 s wall.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from results import write_generated

HERE = Path(__file__).resolve().parent
PROGRAMS = ["empty", "empty-nocache", "fib25", "fib30", "loop", "concat"]
DESCRIPTIONS = {
    "empty": "empty program",
    "empty-nocache": "empty program, compile cache off",
    "fib25": "recursive fib(25)",
    "fib30": "recursive fib(30)",
    "loop": "while loop, sum of i*i, 1,000,000 iterations",
    "concat": "10,000-piece string built with +",
}


@dataclass
class Sample:
    walls: list[float] = field(default_factory=list)
    rss_kb: int = 0
    output: str = ""

    @property
    def best(self) -> float:
        return min(self.walls)


def ezlang_command() -> list[str]:
    """The installed ``ezlang`` console script (what a user runs), else ``python -m ezlang``."""
    exe = shutil.which("ezlang")
    return [exe, "run"] if exe else [sys.executable, "-m", "ezlang", "run"]


def run_once(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (KiB) and stdout of one child process."""
    start = time.perf_counter()
    full_env = {**os.environ, **(env or {})}
    # A normal install has .pyc files for ezlang's modules; without them every run would
    # compile ezlang itself from source (some sandboxes set this variable).
    full_env.pop("PYTHONDONTWRITEBYTECODE", None)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env)
    out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err.decode()}")
    return wall, usage.ru_maxrss, out.decode().strip()


def measure(repeat: int) -> dict[str, dict[str, Sample]]:
    results: dict[str, dict[str, Sample]] = {name: {} for name in PROGRAMS}
    ez = ezlang_command()
    cache_dir = tempfile.mkdtemp(prefix="ezlang-bench-cache-")
    for name in PROGRAMS:
        file = name.split("-")[0]
        pairs = {
            "ezlang": ez + [str(HERE / "lang" / f"{file}.ez")],
            "python": [sys.executable, str(HERE / "lang" / f"{file}.py")],
        }
        # ezlang keeps compiled programs in a cache (like .pyc); the first run fills it.
        env = {"EZLANG_CACHE_DIR": cache_dir}
        if name.endswith("-nocache"):
            env["EZLANG_NO_CACHE"] = "1"
        for cmd in pairs.values():
            run_once(cmd, env)  # warm-up: writes .pyc files and the compile cache
        for _ in range(repeat):
            for lang, cmd in pairs.items():
                wall, rss, out = run_once(cmd, env)
                sample = results[name].setdefault(lang, Sample())
                sample.walls.append(wall)
                sample.rss_kb = max(sample.rss_kb, rss)
                sample.output = out
        ez_out, py_out = results[name]["ezlang"].output, results[name]["python"].output
        if ez_out != py_out:
            raise SystemExit(f"{name}: outputs differ: ezlang {ez_out!r} vs python {py_out!r}")
    return results


def report(results: dict[str, dict[str, Sample]], repeat: int) -> str:
    base = {lang: results["empty"][lang].best for lang in ("ezlang", "python")}
    lines = [
        "| program | ezlang wall | python wall | ezlang compute | python compute | ratio | ezlang RSS | python RSS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in PROGRAMS:
        ez, py = results[name]["ezlang"], results[name]["python"]
        if name.startswith("empty"):
            ratio = ez.best / py.best
            ez_c = py_c = "—"
            ratio_s = f"{ratio:.2f}× (wall)"
        else:
            ez_compute = max(ez.best - base["ezlang"], 1e-6)
            py_compute = max(py.best - base["python"], 1e-6)
            ez_c, py_c = f"{ez_compute:.3f} s", f"{py_compute:.3f} s"
            ratio_s = f"{ez_compute / py_compute:.2f}×"
        lines.append(
            f"| {DESCRIPTIONS[name]} | {ez.best:.3f} s | {py.best:.3f} s | {ez_c} | {py_c} | "
            f"{ratio_s} | {ez.rss_kb / 1024:.1f} MiB | {py.rss_kb / 1024:.1f} MiB |"
        )
    header = (
        f"Best of {repeat} runs each, ezlang and Python interleaved; "
        f"{platform.python_implementation()} {platform.python_version()} on "
        f"{platform.machine()}, {os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"load average {os.getloadavg()[0]:.1f} at the end.\n"
        "Compute = wall minus the same language's empty-program wall (compile cache on, as "
        "by default). RSS = peak resident set of the child process.\n"
    )
    return header + "\n" + "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--write", metavar="FILE", help="also write the table to FILE")
    args = parser.parse_args()
    results = measure(args.repeat)
    table = report(results, args.repeat)
    print(table)
    if args.write:
        write_generated(
            args.write, table, script="bench/lang_bench.py", title="# Language benchmarks"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
