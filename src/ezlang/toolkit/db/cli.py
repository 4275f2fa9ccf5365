"""``ezlang db``: look at and edit a bot's database from the shell.

::

    ezlang db [--file PATH | --redis URL] list [PREFIX]   keys and values, one per line
    ezlang db [...] get KEY                              the value as JSON
    ezlang db [...] set KEY JSON                         store a value (JSON text)
    ezlang db [...] delete KEY                           remove a key
    ezlang db [...] incr KEY [BY]                        add to a number, print the result

Without ``--file``/``--redis`` it opens what a program started in the current directory would
(``$EZLANG_DB``, ``$EZLANG_REDIS_URL``, else ``./ezlang.db``). Output goes to stdout; a
missing key or a failure is one line on stderr and exit code 1; a usage mistake exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from ezlang.toolkit.db import (
    Database,
    DatabaseError,
    Location,
    NotANumber,
    Unstorable,
    configured_location,
    encode_value,
    is_redis_url,
    open_database,
)

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _parser() -> _Parser:
    parser = _Parser(prog="ezlang db", description="List and edit the EasyLang bot database.")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--file", metavar="PATH", help="the SQLite database file")
    where.add_argument("--redis", metavar="URL", help="a redis:// URL")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    sub.required = True
    ls = sub.add_parser("list", help="print every key (or those starting with PREFIX) and value")
    ls.add_argument("prefix", nargs="?", default="", metavar="PREFIX")
    get = sub.add_parser("get", help="print the value of KEY as JSON")
    get.add_argument("key", metavar="KEY")
    set_ = sub.add_parser("set", help="store the JSON value under KEY")
    set_.add_argument("key", metavar="KEY")
    set_.add_argument("value", metavar="JSON")
    delete = sub.add_parser("delete", help="remove KEY")
    delete.add_argument("key", metavar="KEY")
    incr = sub.add_parser("incr", help="add BY (default 1) to the number under KEY")
    incr.add_argument("key", metavar="KEY")
    incr.add_argument("by", nargs="?", default="1", metavar="BY")
    return parser


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _show(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


async def _act(db: Database, args: argparse.Namespace) -> int:
    try:
        if args.action == "list":
            for key in await db.keys(args.prefix):
                found, value = await db.get(key)
                if found:  # it may have been deleted since keys() listed it
                    print(f"{key}\t{_show(value)}")
            return 0
        if args.action == "get":
            found, value = await db.get(args.key)
            if not found:
                sys.stderr.write(f"ezlang db: no key {args.key!r} in {db.location}\n")
                return 1
            print(_show(value))
            return 0
        if args.action == "set":
            try:
                value = json.loads(args.value, parse_constant=_reject_constant)
            except ValueError as exc:
                sys.stderr.write(f"ezlang db: the value is not valid JSON: {exc}\n")
                return EXIT_USAGE
            await db.set(args.key, value)
            return 0
        if args.action == "delete":
            if not await db.delete(args.key):
                sys.stderr.write(f"ezlang db: no key {args.key!r} in {db.location}\n")
                return 1
            return 0
        # incr
        try:
            by = json.loads(args.by)
        except ValueError:
            by = None
        if type(by) not in (int, float) or not math.isfinite(by):
            sys.stderr.write(f"ezlang db: BY must be a number, got {args.by!r}\n")
            return EXIT_USAGE
        print(encode_value(await db.incr(args.key, by)))
        return 0
    except NotANumber as exc:
        sys.stderr.write(
            f"ezlang db: the value of {args.key!r} is a {exc.type_name}, not a number\n"
        )
    except Unstorable as exc:
        sys.stderr.write(f"ezlang db: cannot store a value that contains {exc.what}\n")
    except DatabaseError as exc:
        sys.stderr.write(f"ezlang db: {exc}\n")
    return 1


async def _run(location: Location, args: argparse.Namespace) -> int:
    db = open_database(location)
    try:
        return await _act(db, args)
    finally:
        try:
            await db.close()
        except DatabaseError as exc:
            sys.stderr.write(f"ezlang db: closing: {exc}\n")


def main(argv: Sequence[str]) -> int:
    """Run ``ezlang db ARGV...``; returns the exit code."""
    try:
        args = _parser().parse_args(list(argv))
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    if args.redis is not None:
        if not is_redis_url(args.redis):
            sys.stderr.write(f"ezlang db: --redis needs a redis:// URL, got {args.redis!r}\n")
            return EXIT_USAGE
        location = Location("redis", args.redis)
    elif args.file is not None:
        location = Location("sqlite", str(Path(args.file).expanduser().absolute()))
    else:
        location = configured_location(None)
    if (
        location.kind == "sqlite"
        and args.action not in ("set", "incr")
        and not Path(location.target).is_file()
    ):
        # Reading must not create an empty database by mistake (a typo in the path).
        sys.stderr.write(f"ezlang db: no database file {location.target}\n")
        return 1
    try:
        return asyncio.run(_run(location, args))
    except KeyboardInterrupt:
        return 130
