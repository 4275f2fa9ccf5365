"""The ``ezlang`` / ``easylang`` command (also ``python -m ezlang``).

Subcommands::

    ezlang run FILE [--debug] [--api URL] [--sandbox] [NAME=value ...]
                                (reads a .env file next to FILE first; see docs/BOTS.md)
    ezlang check FILE...
    ezlang test PATH...
    ezlang repl
    ezlang sandbox ...          (the local Discord; see docs/SANDBOX.md)
    ezlang db ...               (the bot database; see docs/BOTS.md)

``ezlang FILE.ez ...`` is short for ``ezlang run FILE.ez ...``. A mistyped command
(``ezlang runn``) is answered with the closest real one.

Exit codes: 0 success, 1 an EasyLang error (printed with its position on stderr), 2 a usage
error (unknown flag, missing file). Heavy modules (discord.py, the sandbox, prompt_toolkit)
are imported only by the subcommands that need them, so ``ezlang run empty.ez`` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from ezlang import __version__

EXIT_USAGE = 2
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

SANDBOX_GUILDS = 5000


class _Parser(argparse.ArgumentParser):
    """argparse with our exit code and a short message for usage errors."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _build_parser() -> tuple[_Parser, _Parser]:
    """The top-level parser and its ``run`` sub-parser."""
    parser = _Parser(
        prog="ezlang",
        description="EasyLang: a beginner-first language for Discord bots.",
        epilog="'ezlang FILE.ez' is short for 'ezlang run FILE.ez'.",
    )
    parser.add_argument("--version", action="version", version=f"ezlang {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = sub.add_parser("run", help="run an EasyLang program")
    run.add_argument("file", help="the .ez file to run")
    run.add_argument(
        "assignments",
        nargs="*",
        metavar="NAME=value",
        help="arguments the program reads with get_argument(NAME)",
    )
    run.add_argument("--debug", action="store_true", help="show Python internals in errors")
    run.add_argument("--api", metavar="URL", help="Discord REST API base URL (e.g. a sandbox)")
    run.add_argument(
        "--sandbox",
        action="store_true",
        help=f"run against an embedded local Discord with {SANDBOX_GUILDS} guilds",
    )
    run.add_argument(
        "--commands-guild",
        metavar="ID",
        help="register the bot's slash commands to this guild only (instant updates)",
    )
    run.add_argument(
        "--log",
        action="store_true",
        help="with --sandbox: log connections, IDENTIFYs, messages in and out on stderr",
    )

    run.add_argument(
        "--metrics",
        type=_port,
        metavar="PORT",
        help="shard manager: serve Prometheus metrics on 127.0.0.1:PORT/metrics",
    )
    run.add_argument(
        "--dashboard",
        type=_port,
        metavar="PORT",
        help="shard manager: serve the live dashboard on 127.0.0.1:PORT "
        "(actions need EZLANG_DASHBOARD_TOKEN)",
    )
    run.add_argument(
        "--log-json",
        action="store_true",
        help="shard manager: write its messages as one JSON object per line on stderr",
    )

    check = sub.add_parser(
        "check",
        help="find syntax errors, undefined names and wrong builtin calls without running",
    )
    check.add_argument("files", nargs="+", metavar="FILE")

    test = sub.add_parser("test", help="run EasyLang test files (*.test.ez, *-test.ez)")
    test.add_argument("paths", nargs="+", metavar="PATH", help="test files or directories")
    test.add_argument("--debug", action="store_true", help="show Python internals in errors")
    test.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="time limit per test case (default 60; 0 = none)",
    )

    repl = sub.add_parser("repl", help="interactive EasyLang prompt")
    repl.add_argument("--debug", action="store_true", help="show Python internals in errors")
    sub.add_parser("sandbox", help="run the local Discord sandbox (see 'ezlang sandbox --help')")
    sub.add_parser("db", help="list and edit the bot database (see 'ezlang db --help')")
    return parser, run


_USAGE = {
    "run": "usage: ezlang run FILE [--debug] [--api URL] [--sandbox [--log]] [--metrics PORT] "
    "[--dashboard PORT] [--log-json] [NAME=value ...]",
    "check": "usage: ezlang check FILE...",
    "test": "usage: ezlang test PATH... [--timeout SECONDS] [--debug]",
}


def _usage_error(message: str, command: str) -> int:
    """A usage mistake found after parsing: the command's usage line, the problem, exit 2."""
    sys.stderr.write(f"{_USAGE[command]}\nezlang {command}: error: {message}\n")
    return EXIT_USAGE


def _port(text: str) -> int:
    """A TCP port argument (0: any free port)."""
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {text!r}")
    return int(text)


def _parse_assignments(items: Sequence[str]) -> dict[str, str] | str:
    """``NAME=value`` pairs as a dict, or the error text for a malformed one."""
    result: dict[str, str] = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq or not _NAME.match(name):
            return f"expected NAME=value after the file, got {item!r}"
        result[name] = value
    return result


def _warn_secret_arguments(assignments: dict[str, str]) -> None:
    """One stderr line per ``*TOKEN*=…`` argument: the command line of a process is public."""
    for name in assignments:
        if "TOKEN" in name.upper():
            # Never echo the value: the point is that it should not be seen.
            sys.stderr.write(
                f"ezlang: warning: {name}=… on the command line can be read by every user of "
                "this computer (ps shows it); set the DISCORD_TOKEN environment variable or put "
                "it in a .env file next to the script instead\n"
            )


def _load_dotenv_beside(script: str) -> str | None:
    """Load the ``.env`` file next to ``script`` into ``os.environ``, if there is one.

    Variables already set in the environment win over the file. Returns the error text when
    the file exists but cannot be read. python-dotenv is imported only when there is a file,
    so runs without one stay fast.
    """
    env_file = Path(script).absolute().parent / ".env"
    if not env_file.is_file():
        return None
    from dotenv import load_dotenv

    try:
        load_dotenv(env_file, override=False)
    except OSError as exc:
        return f"cannot read {env_file}: {exc.strerror or exc}"
    except UnicodeDecodeError:
        return f"cannot read {env_file}: it is not UTF-8 text"
    return None


def _check_source_file(path: str) -> str | None:
    """The usage error for a path that is not a readable file, else None."""
    p = Path(path)
    if not p.exists():
        return f"file not found: {path}"
    if not p.is_file():
        return f"not a file: {path}"
    if not os.access(p, os.R_OK):
        return f"cannot read file: {path}"
    return None


def _sandbox_setup(ctx: Any) -> contextlib.AbstractAsyncContextManager[Any]:
    """An embedded sandbox around the program, started in the program's own event loop."""

    @contextlib.asynccontextmanager
    async def cm() -> AsyncIterator[None]:
        from ezlang.sandbox import Sandbox  # only --sandbox pays for the import
        from ezlang.sandbox.cli import how_to_talk

        log = sys.stderr if ctx.options.pop("sandbox_log", False) else None
        async with Sandbox(
            guilds=SANDBOX_GUILDS, max_concurrency=1, identify_window=1.0, log=log
        ) as sb:
            ctx.options["api"] = sb.api_url
            ctx.options["token"] = sb.token
            ctx.options["sandbox_control"] = sb.control_url
            more = "" if log else " (--log shows every message in and out)"
            sys.stderr.write(f"sandbox: Discord sandbox with {SANDBOX_GUILDS} guilds{more}\n")
            for line in how_to_talk(sb):
                sys.stderr.write(f"sandbox: {line}\n")
            sys.stderr.flush()
            yield

    return cm()


def _cmd_run(args: argparse.Namespace) -> int:
    assignments = _parse_assignments(args.assignments)
    if isinstance(assignments, str):
        return _usage_error(assignments, "run")
    problem = _check_source_file(args.file)
    if problem:
        return _usage_error(problem, "run")
    _warn_secret_arguments(assignments)
    problem = _load_dotenv_beside(args.file)
    if problem:
        return _usage_error(problem, "run")
    import ezlang.extensions
    from ezlang.lang.runner import run_file

    ezlang.extensions.install()
    options: dict[str, Any] = {}
    if args.api:
        options["api"] = args.api
    if args.log and not args.sandbox:
        return _usage_error("--log works with --sandbox (it logs the embedded sandbox)", "run")
    if args.log:
        options["sandbox_log"] = True
    if args.commands_guild:
        options["commands_guild"] = args.commands_guild
    # Defaults for create_shard_manager's options (an option the script gives wins).
    if args.metrics is not None:
        options["shard_manager_defaults"] = {"metrics": args.metrics}
    if args.dashboard is not None:
        options.setdefault("shard_manager_defaults", {})["dashboard"] = args.dashboard
    if args.log_json:
        options.setdefault("shard_manager_defaults", {})["log_format"] = "json"
    return run_file(
        args.file,
        arguments=assignments,
        debug=args.debug,
        options=options,
        setup=_sandbox_setup if args.sandbox else None,
    )


def _cmd_check(args: argparse.Namespace) -> int:
    for path in args.files:
        problem = _check_source_file(path)
        if problem:
            return _usage_error(problem, "check")
    import ezlang.extensions
    import ezlang.lang.builtins  # noqa: F401  (the core builtins, for names and arities)
    from ezlang.lang import format_error
    from ezlang.lang.check import check_file, format_problem

    ezlang.extensions.install()
    failed = 0
    for path in args.files:
        try:
            problems = check_file(path)
        except Exception as exc:
            failed += 1
            text = format_error(exc)
            sys.stderr.write(text if text.endswith("\n") else text + "\n")
            continue
        if not problems:
            print(f"{path}: ok")
            continue
        failed += 1
        for found in problems:
            sys.stderr.write(format_problem(found) + "\n")
        count = len(problems)
        sys.stderr.write(f"{path}: {count} problem{'' if count == 1 else 's'} found\n")
    return 1 if failed else 0


def _cmd_test(args: argparse.Namespace) -> int:
    for path in args.paths:
        if not Path(path).exists():
            return _usage_error(f"path not found: {path}", "test")
    import ezlang.extensions
    from ezlang.lang.testrunner import run_tests

    ezlang.extensions.install()
    return run_tests(args.paths, debug=args.debug, timeout=args.timeout)


def _cmd_repl(args: argparse.Namespace) -> int:
    import ezlang.extensions
    from ezlang.lang.repl import run_repl

    ezlang.extensions.install()
    return run_repl(debug=args.debug)


COMMANDS = ("run", "check", "test", "repl", "sandbox", "db")


def _unknown_command(word: str) -> int:
    """``ezlang runn``: name the mistake and the closest command (exit 2)."""
    import difflib

    close = difflib.get_close_matches(word, COMMANDS, n=1, cutoff=0.6)
    if close:
        hint = f"; did you mean '{close[0]}'?"
    elif Path(word).is_file():
        hint = f"; to run this file: ezlang run {word}"
    else:
        hint = f" (commands: {', '.join(COMMANDS)})"
    _build_parser()[0].print_usage(sys.stderr)
    sys.stderr.write(f"ezlang: error: unknown command '{word}'{hint}\n")
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ezlang``, ``easylang`` and ``python -m ezlang``; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "sandbox":
        # The sandbox has its own flags; hand everything after the word over untouched.
        from ezlang.sandbox.cli import main as sandbox_main

        return sandbox_main(args_list[1:])
    if args_list and args_list[0] == "db":
        from ezlang.toolkit.db.cli import main as db_main

        return db_main(args_list[1:])
    if args_list and args_list[0].endswith((".ez", ".ezlang")):
        args_list.insert(0, "run")
    elif args_list and not args_list[0].startswith("-") and args_list[0] not in COMMANDS:
        return _unknown_command(args_list[0])
    parser, run_parser = _build_parser()
    try:
        if args_list and args_list[0] == "run":
            # Flags may come after NAME=value pairs: `ezlang run bot.ez ROUNDS=3 --sandbox`.
            args = run_parser.parse_intermixed_args(args_list[1:])
            args.command = "run"
        else:
            args = parser.parse_args(args_list)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_usage(sys.stderr)
        sys.stderr.write(f"ezlang: error: a command is required ({', '.join(COMMANDS)})\n")
        return EXIT_USAGE
    handler = {
        "run": _cmd_run,
        "check": _cmd_check,
        "test": _cmd_test,
        "repl": _cmd_repl,
    }[args.command]
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `ezlang run x.ez | head`: the reader went away; not an error of the program.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0
