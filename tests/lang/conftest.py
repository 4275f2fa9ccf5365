"""Fixtures for the language-core tests: run EasyLang source through the public API."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import Callable
from typing import Any

import pytest

import ezlang.lang.builtins  # noqa: F401  (registers print and the other core builtins)
from ezlang.lang import EzError, call_async, compile_source, format_error


def run_source(source: str, filename: str = "test.ez") -> tuple[str, dict[str, Any]]:
    """Run ``source``; returns (stdout, namespace). Errors propagate."""
    program = compile_source(source, filename)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        namespace = asyncio.run(call_async(program.run))
    return out.getvalue(), namespace


def run_error(source: str, filename: str = "test.ez") -> tuple[EzError, str, str]:
    """Run ``source`` expecting an error; returns (EzError, formatted error, stdout so far)."""
    from ezlang.lang import to_ez_error

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            program = compile_source(source, filename)
            asyncio.run(call_async(program.run))
        except Exception as exc:  # noqa: BLE001 - we convert whatever EasyLang raised
            return to_ez_error(exc), format_error(exc), out.getvalue()
    raise AssertionError(f"expected an error, got output {out.getvalue()!r}")


@pytest.fixture
def ez() -> Callable[[str], str]:
    """``ez(source)`` → what the program printed."""
    return lambda source: run_source(source)[0]
