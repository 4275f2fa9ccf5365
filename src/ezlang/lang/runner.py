"""Run an EasyLang program as a process: ``ezlang run FILE`` and every shard process.

:func:`run_file` compiles the file (a syntax error stops it before anything runs), makes a
:class:`~ezlang.lang.context.RunContext` current, and runs the top level inside
``asyncio.run`` in an EasyLang greenlet (``asyncbridge.call_async``). When the top level
returns, the process stays alive while ``ctx.keepalive`` futures are pending (a connected
bot, a supervising shard manager).

Stopping: SIGINT (Ctrl-C) and SIGTERM interrupt whatever EasyLang code is running, run
``ctx.shutdown_hooks`` newest first and exit 0. A second signal while the hooks run exits at
once with 130. The handler is a plain ``signal.signal`` handler rather than
``loop.add_signal_handler`` because a busy ``while true { }`` never hands control back to
the event loop, and Ctrl-C must still stop it.

Errors: an :class:`~ezlang.lang.errors.EzError` (or any exception escaping EasyLang code)
prints ``format_error`` on stderr and gives exit code 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from ezlang.lang import context
from ezlang.lang.asyncbridge import call_async, in_easylang
from ezlang.lang.context import RunContext

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130

Setup = Callable[[RunContext], contextlib.AbstractAsyncContextManager[Any]]


class _Stop:
    """Signal bookkeeping for one run: a stop request wakes the runner's wait."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.event = asyncio.Event()
        self.requested = False
        self.hooks_running = False

    def handler(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            if self.hooks_running:
                # Second Ctrl-C while shutting down: the user wants out now.
                raise KeyboardInterrupt
            return
        self.requested = True
        context.current().stop_signal = signum
        self.loop.call_soon_threadsafe(self.event.set)
        if in_easylang():
            # EasyLang code is running right now (perhaps a busy loop that would never
            # yield): unwind it like a task cancellation; try/catch in EasyLang does not
            # catch this, so the program cannot swallow Ctrl-C.
            raise asyncio.CancelledError


_active_stop: _Stop | None = None


def request_stop() -> None:
    """Stop the running program as Ctrl-C does (shutdown hooks, then exit 0).

    Used when stdout's reader has gone away (``ezlang run bot.ez | head``): like a Unix tool
    on SIGPIPE the program ends, but it still runs its cleanup. Without a running program
    (REPL, tests) nothing happens.
    """
    stop = _active_stop
    if stop is not None:
        stop.handler(signal.SIGTERM, None)


def _print_error(exc: BaseException, debug: bool) -> None:
    from ezlang.lang import format_error

    sys.stdout.flush()
    try:
        text = format_error(exc, debug=debug)
    except Exception:  # a bug in error formatting must not hide the original error
        import traceback

        text = "".join(traceback.format_exception(exc))
    sys.stderr.write(text if text.endswith("\n") else text + "\n")
    sys.stderr.flush()


async def _wait_first(*aws: asyncio.Future[Any]) -> None:
    await asyncio.wait(aws, return_when=asyncio.FIRST_COMPLETED)


async def run_program(
    program: Any,
    ctx: RunContext,
    *,
    setup: Setup | None = None,
) -> int:
    """Run a compiled program in the current event loop (signals, keepalive, shutdown hooks).

    Returns the exit code. Used by :func:`run_file`; the shard agent may call it directly.
    """
    global _active_stop
    loop = asyncio.get_running_loop()
    stop = _active_stop = _Stop(loop)
    previous_handlers: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous_handlers[sig] = signal.signal(sig, stop.handler)
    stop_wait = asyncio.ensure_future(stop.event.wait())
    code = EXIT_OK
    try:
        async with setup(ctx) if setup is not None else contextlib.nullcontext():
            main = asyncio.ensure_future(call_async(program.run))
            await _wait_first(main, stop_wait)
            if main.done() and not main.cancelled():
                exc = main.exception()
                if exc is not None:
                    _print_error(exc, ctx.debug)
                    code = EXIT_ERROR
            # The script is done (or interrupted); a bot or manager may keep the process up.
            while code == EXIT_OK and ctx.keepalive and not stop.requested:
                await _wait_first(*ctx.keepalive, stop_wait)
                for fut in [f for f in list(ctx.keepalive) if f.done()]:
                    ctx.keepalive.discard(fut)
                    if not fut.cancelled() and fut.exception() is not None:
                        _print_error(fut.exception(), ctx.debug)  # type: ignore[arg-type]
                        code = EXIT_ERROR
            if code == EXIT_OK and not stop.requested:
                for check in ctx.end_checks:  # e.g. handlers registered but no bot_start()
                    try:
                        check()
                    except Exception as exc:
                        _print_error(exc, ctx.debug)
                        code = EXIT_ERROR
            if not main.done():
                main.cancel()
                try:
                    await main
                except asyncio.CancelledError:
                    pass
                except Exception as exc:  # raised while the script unwound (a `finally`)
                    _print_error(exc, ctx.debug)
            stop.hooks_running = True
            try:
                await ctx.run_shutdown_hooks()
            except Exception as exc:  # a failing hook is reported, never a traceback
                _print_error(exc, ctx.debug)
                code = EXIT_ERROR
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    finally:
        _active_stop = None
        stop_wait.cancel()
        for signum, old in previous_handlers.items():
            signal.signal(signum, old)
        sys.stdout.flush()
    return code


# ---------------------------------------------------------------------------------------------
# Compiled-program cache (like CPython's .pyc files, for the main file)
#
# Parsing and compiling are most of the start-up time of a small program that does not use
# the parser anyway after that (importing the parser and compiler modules alone costs tens of
# milliseconds). Shard processes start the same file many times at once. So run_file keeps
# the code object of the main file in a cache directory, keyed by a hash of the source, its
# path, the Python version and the compiler's own files (any change to them invalidates
# every entry). Any problem with the cache (unwritable directory, a corrupt entry) falls
# back to compiling. EZLANG_NO_CACHE=1 turns it off; EZLANG_CACHE_DIR moves it.

_COMPILER_FILES = (
    "__init__.py",
    "lexer.py",
    "parse_tokens.py",
    "parse_expressions.py",
    "parser.py",
    "nodes.py",
    "compile_scopes.py",
    "compile_expressions.py",
    "compiler.py",
)


def _cache_dir() -> Path | None:
    if os.environ.get("EZLANG_NO_CACHE"):
        return None
    explicit = os.environ.get("EZLANG_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ezlang"


def _cache_key(path: str, source: bytes) -> str:
    import hashlib

    from ezlang import __version__

    digest = hashlib.blake2b(digest_size=20)
    lang_dir = Path(__file__).resolve().parent
    stamp = [sys.version, __version__, path]
    for name in _COMPILER_FILES:
        st = os.stat(lang_dir / name)
        stamp.append(f"{name}:{st.st_mtime_ns}:{st.st_size}")
    digest.update("\0".join(stamp).encode())
    digest.update(b"\0")
    digest.update(source)
    return digest.hexdigest()


def load_program(path: str | Path) -> Any:
    """The compiled program of the file ``path``, from the cache when it is up to date.

    Raises the same ``EzError`` as ``compile_file`` (SyntaxError, unreadable file).
    """
    import marshal

    from ezlang.lang import Program, compile_file, compile_source
    from ezlang.lang.errors import register_source

    name = str(path)
    cache = _cache_dir()
    try:
        raw = Path(name).read_bytes()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return compile_file(name)  # reports the problem as an EasyLang error
    if cache is None or name.startswith("<"):
        return compile_source(text, name)
    try:
        entry = cache / f"{_cache_key(name, raw)}.code"
    except OSError:  # the compiler's files cannot be stat'ed: do not cache
        return compile_source(text, name)
    try:
        code = marshal.loads(entry.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        program = compile_source(text, name)
        _store(cache, entry, program.code)
        return program
    if register_source(name, text) != name:  # pragma: no cover - only for "<...>" names
        return compile_source(text, name)
    return Program(code, name, text)


def _store(cache: Path, entry: Path, code: Any) -> None:
    import marshal

    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = entry.with_name(f"{entry.name}.{os.getpid()}.tmp")
        tmp.write_bytes(marshal.dumps(code))
        os.replace(tmp, entry)  # atomic: shards starting together never read half a file
        _prune(cache)
    except OSError:
        pass  # a cache we cannot write is only slower


#: Entries kept in the cache; every edit of a program adds one, so old ones are dropped.
CACHE_MAX_ENTRIES = 500


def _prune(cache: Path) -> None:
    """Keep the cache bounded (runs only after a cache miss): drop the oldest entries."""
    entries = list(cache.glob("*.code"))
    if len(entries) <= CACHE_MAX_ENTRIES:
        return

    def age(p: Path) -> float:
        try:
            return p.stat().st_mtime
        except OSError:
            return 0.0

    entries.sort(key=age)
    for old in entries[: len(entries) - CACHE_MAX_ENTRIES * 4 // 5]:
        try:
            old.unlink()
        except OSError:
            pass


def _line_buffered_stdout() -> None:
    """Make ``print`` output appear line by line even when stdout is a pipe or a file.

    A bot runs for days with its output going to a log; block buffering would hold its lines
    back for kilobytes (and put them out of order with the errors on stderr).
    """
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        try:
            reconfigure(line_buffering=True)
        except (ValueError, OSError):  # a replaced or closed stdout: leave it alone
            pass


def _ensure_builtins() -> None:
    import ezlang.lang.builtins  # noqa: F401  (registers the core builtins)


def run_file(
    path: str | Path,
    *,
    arguments: Mapping[str, str] | None = None,
    debug: bool = False,
    options: Mapping[str, Any] | None = None,
    setup: Setup | None = None,
) -> int:
    """Compile and run the EasyLang file ``path``; returns the process exit code.

    ``arguments`` are the ``NAME=value`` command-line arguments (for ``get_argument``),
    ``options`` go to ``RunContext.options`` (``api``, ``token``, ``sandbox_control``), and
    ``setup(ctx)``, if given, is an async context manager entered around the program (the
    embedded sandbox of ``--sandbox``, the shard agent).
    """
    _ensure_builtins()
    _line_buffered_stdout()
    file = Path(path)
    ctx = RunContext(
        main_file=file,
        arguments=dict(arguments or {}),
        debug=debug,
        options=dict(options or {}),
    )
    previous = context.set_current(ctx)
    try:
        try:
            program = load_program(file)
        except Exception as exc:
            _print_error(exc, debug)
            return EXIT_ERROR
        try:
            return asyncio.run(run_program(program, ctx, setup=setup))
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED
        except Exception as exc:  # e.g. the --sandbox setup could not start
            _print_error(exc, debug)
            return EXIT_ERROR
    finally:
        context.set_current(previous)
        sys.stdout.flush()
