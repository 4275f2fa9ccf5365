"""``ezlang test PATH...``: run EasyLang test files.

* A file argument is a test file; a directory means every ``*.test.ez`` and ``*-test.ez``
  file under it (recursively, in sorted order).
* The file's top level runs first (it defines the tests and any shared setup). Every
  top-level ``func test_…`` of the file itself (not of files it imports) is then one case,
  run in the order written. A file without ``test_`` functions is one case: its top level.
* A case fails when it raises anything — a failing ``assert``, a ``throw``, a runtime
  error; its positioned error is printed under the cross. A syntax error or a failing top
  level fails the file as one case.
* Output: the file name, then ``✓ name`` / ``✗ name`` per case (``ok``/``FAIL`` when the
  terminal cannot show those characters), and finally exactly ``N passed, N failed``.
  Exit code 1 if any case failed (or no test file was found), else 0.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ezlang.lang import context
from ezlang.lang.asyncbridge import call_async
from ezlang.lang.context import RunContext

TEST_PREFIX = "test_"
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


async def _run_case(fn: Any, *args: Any) -> tuple[BaseException | None, float, Any]:
    start = time.perf_counter()
    try:
        result = await call_async(fn, *args)
    except Exception as exc:
        return exc, time.perf_counter() - start, None
    return None, time.perf_counter() - start, result


async def _run_file(path: Path, report: _Reporter) -> None:
    from ezlang.lang import compile_source

    report.file(path)
    try:
        source = path.read_text(encoding="utf-8")
        names = test_function_names(source, str(path))
        program = compile_source(source, str(path))
    except Exception as exc:
        report.fail(path.name, exc)
        return
    error, seconds, namespace = await _run_case(program.run)
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
        error, seconds, _ = await _run_case(fn)
        if error is None:
            report.ok(name, seconds)
        else:
            report.fail(name, error)
        sys.stdout.flush()


async def _run_all(files: Sequence[Path], report: _Reporter) -> None:
    for path in files:
        await _run_file(path, report)


def run_tests(
    paths: Sequence[str | Path], *, debug: bool = False, out: TextIO | None = None
) -> int:
    """Run the test files named by ``paths``; prints a line per case and the summary line.

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
        asyncio.run(_run_all(files, report))
    finally:
        context.set_current(previous)
    report.summary()
    return 1 if report.failed else 0
