"""``ezlang test PATH...``: run EasyLang test files.

* A file argument is a test file; a directory means every ``*.test.ez`` and ``*-test.ez``
  file under it (recursively, in sorted order).
* The file's top level runs first (it defines the tests and any shared setup). Every
  top-level ``func test_…`` of the file itself (not of files it imports) is then one case,
  run in the order written. A file without ``test_`` functions is one case: its top level.
* A case fails when it raises anything — a failing ``assert``, a ``throw``, a runtime
  error; its positioned error is printed under the cross. A syntax error or a failing top
  level fails the file as one case.
* Each case (and each file's top level) has a time limit, 60 s by default (``--timeout``);
  a case that takes longer — waiting forever or looping without pause — fails with a
  TimeoutError and the run goes on.
* Output: the file name, then ``✓ name`` / ``✗ name`` per case (``ok``/``FAIL`` when the
  terminal cannot show those characters), and finally exactly ``N passed, N failed``.
  Exit code 1 if any case failed (or no test file was found), else 0.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ezlang.lang import context
from ezlang.lang.asyncbridge import call_async, in_easylang
from ezlang.lang.context import RunContext
from ezlang.lang.errors import EzError

TEST_PREFIX = "test_"
#: Seconds one case may take before it fails with a TimeoutError (``--timeout``).
DEFAULT_TIMEOUT = 60.0
TEST_SUFFIXES = (".test.ez", "-test.ez", ".test.ezlang", "-test.ezlang")


def collect(paths: Iterable[str | Path]) -> list[Path]:
    """The test files named by ``paths`` (files as given, directories searched recursively)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = [p for p in path.rglob("*") if p.is_file() and p.name.endswith(TEST_SUFFIXES)]
            files.extend(sorted(found))
        else:
            files.append(path)
    seen: set[Path] = set()
    unique = []
    for f in files:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def test_function_names(source: str, filename: str) -> list[str]:
    """Names of the top-level ``func test_…`` declarations of a file, in source order."""
    from ezlang.lang import nodes
    from ezlang.lang.parser import parse

    names = []
    for stmt in parse(source, filename).body:
        if isinstance(stmt, nodes.FuncDecl):
            name = stmt.func.name
        elif isinstance(stmt, nodes.Let) and isinstance(stmt.value, nodes.FuncExpr):
            name = stmt.name
        else:
            continue
        if name and name.startswith(TEST_PREFIX) and name not in names:
            names.append(name)
    return names


@dataclass
class _Marks:
    ok: str
    fail: str

    @classmethod
    def for_stream(cls, stream: TextIO) -> _Marks:
        try:
            "✓✗".encode(stream.encoding or "ascii")
        except (UnicodeEncodeError, LookupError):
            return cls("ok", "FAIL")
        return cls("✓", "✗")


class _Reporter:
    def __init__(self, out: TextIO, debug: bool) -> None:
        self.out = out
        self.debug = debug
        self.marks = _Marks.for_stream(out)
        self.passed = 0
        self.failed = 0

    def file(self, path: Path) -> None:
        self.out.write(f"{path}\n")

    def ok(self, name: str, seconds: float) -> None:
        self.passed += 1
        self.out.write(f"  {self.marks.ok} {name}{_duration(seconds)}\n")

    def fail(self, name: str, exc: BaseException) -> None:
        from ezlang.lang import format_error

        self.failed += 1
        self.out.write(f"  {self.marks.fail} {name}\n")
        try:
            text = format_error(exc, debug=self.debug)
        except Exception:  # never let a formatting bug hide the failure itself
            text = f"{type(exc).__name__}: {exc}"
        for line in text.rstrip("\n").splitlines():
            self.out.write(f"      {line}\n")

    def summary(self) -> None:
        self.out.write(f"{self.passed} passed, {self.failed} failed\n")
        self.out.flush()


def _duration(seconds: float) -> str:
    # Only slow cases get a time, so fast suites read cleanly.
    return f" ({seconds:.2f} s)" if seconds >= 0.5 else ""


class _Deadline:
    """Per-case time limit. A SIGALRM timer stops a case that waits forever *and* one stuck
    in a loop that never pauses (the alarm interrupts EasyLang code where it is)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.task: asyncio.Future[Any] | None = None
        self.expired = False
        self.enabled = (
            seconds > 0
            and hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()
        )

    def _alarm(self, signum: int, frame: Any) -> None:
        self.expired = True
        if self.task is not None and not self.task.done():
            # call_soon_threadsafe wakes the loop if it sleeps in select(); a plain cancel()
            # from a signal handler would wait for the next unrelated event.
            self.task.get_loop().call_soon_threadsafe(self.task.cancel)
            if in_easylang():
                raise asyncio.CancelledError

    async def run(self, fn: Any, *args: Any) -> Any:
        self.expired = False
        self.task = asyncio.ensure_future(call_async(fn, *args))
        if not self.enabled:
            return await self.task
        previous = signal.signal(signal.SIGALRM, self._alarm)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        try:
            return await self.task
        except asyncio.CancelledError:
            if not self.expired:
                raise
            raise EzError(
                "TimeoutError", f"the test did not finish within {self.seconds:g} seconds"
            ) from None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            self.task = None


async def _run_case(
    deadline: _Deadline, fn: Any, *args: Any
) -> tuple[BaseException | None, float, Any]:
    start = time.perf_counter()
    try:
        result = await deadline.run(fn, *args)
    except Exception as exc:
        return exc, time.perf_counter() - start, None
    return None, time.perf_counter() - start, result


async def _run_file(path: Path, report: _Reporter, deadline: _Deadline) -> None:
    from ezlang.lang import compile_source

    report.file(path)
    # Paths a test passes to builtins (bot files, data files) are relative to the test file.
    context.current().main_file = path
    try:
        source = path.read_text(encoding="utf-8")
        names = test_function_names(source, str(path))
        program = compile_source(source, str(path))
    except Exception as exc:
        report.fail(path.name, exc)
        return
    error, seconds, namespace = await _run_case(deadline, program.run)
    if error is not None:
        report.fail(path.name if not names else f"{path.name} (top level)", error)
        return
    if not names:
        report.ok(path.name, seconds)
        return
    for name in names:
        fn = namespace.get(name) if isinstance(namespace, dict) else None
        if not callable(fn):
            report.fail(name, RuntimeError(f"{name} is not a function after the top level ran"))
            continue
        error, seconds, _ = await _run_case(deadline, fn)
        if error is None:
            report.ok(name, seconds)
        else:
            report.fail(name, error)
        sys.stdout.flush()


async def _run_all(files: Sequence[Path], report: _Reporter, timeout: float) -> None:
    deadline = _Deadline(timeout)
    for path in files:
        await _run_file(path, report, deadline)


def run_tests(
    paths: Sequence[str | Path],
    *,
    debug: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    out: TextIO | None = None,
) -> int:
    """Run the test files named by ``paths``; prints a line per case and the summary line.

    ``timeout`` limits each case (and each file's top level) in seconds; 0 means no limit.
    Returns the exit code: 1 if any case failed or no test file was found, else 0.
    """
    import ezlang.lang.builtins  # noqa: F401  (registers the core builtins)

    stream = out if out is not None else sys.stdout
    files = collect(paths)
    report = _Reporter(stream, debug)
    if not files:
        sys.stderr.write("ezlang test: no test files found (*.test.ez, *-test.ez)\n")
        report.summary()
        return 1
    ctx = RunContext(main_file=files[0], debug=debug)
    previous = context.set_current(ctx)
    try:
        asyncio.run(_run_all(files, report, timeout))
    finally:
        context.set_current(previous)
    report.summary()
    return 1 if report.failed else 0
