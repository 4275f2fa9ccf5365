"""Every option of ``create_shard_manager``, parsed and validated in one place.

Both the Python API (``ShardManager(bot_file, {...})``) and the EasyLang builtin go through
:func:`parse_options`, so an option means the same thing and fails with the same message
everywhere. A wrong type is an EasyLang ``TypeError``, a wrong value a ``ValueError``; both name
the option. The token is kept out of ``repr`` so it cannot leak into logs or error messages.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ezlang.lang.errors import EzError

#: Options a user may pass, with a one-line meaning (used in the "unknown option" message and docs).
OPTION_HELP: dict[str, str] = {
    "token": "bot token (default: the DISCORD_TOKEN environment variable)",
    "total_shards": '"auto" or an integer >= 1',
    "shard_list": "the shard ids this manager runs (distinct integers within [0, total_shards))",
    "respawn": "restart shards that exit (boolean)",
    "spawn_timeout": "seconds a shard may take to become READY",
    "eval_timeout": "seconds broadcast_eval waits for each shard",
    "max_eval_bytes": "largest broadcast_eval code+context or result, in bytes of JSON "
    "(default 16 MiB)",
    "heartbeat_interval": "seconds between IPC heartbeats",
    "heartbeat_timeout": "seconds without a heartbeat before a shard is killed and respawned",
    "max_restarts": "crashes allowed within restart_window before a shard is marked failed",
    "restart_window": "seconds over which crashes are counted",
    "max_concurrency": '"auto" or an integer >= 1: IDENTIFYs allowed per window',
    "identify_window": "seconds of one identify window (Discord: 5)",
    "api": "a Discord-compatible REST base URL",
    "redis": "a redis:// URL to coordinate several hosts",
    "progress": '"auto", true or false: show the spawn progress',
    "metrics": "a port, or {port, host}: serve Prometheus metrics (host: 127.0.0.1)",
    "dashboard": "a port, or {port, host, token}: serve the live web dashboard",
    "log_format": '"text" or "json": how the manager writes its messages on stderr',
    "live": '"auto", true or false: one live shard table on a terminal after spawn',
    "resume_window": "seconds a dead shard's session is resumed by its replacement (0: never)",
    "rest_global_rate": "REST requests per second for the whole bot (Discord's global limit: 50)",
    "rest_invalid_limit": "401/403/429 answers per 10 minutes per IP before Cloudflare blocks it",
}

#: Where the dashboard's token comes from when the option does not give one.
ENV_DASHBOARD_TOKEN = "EZLANG_DASHBOARD_TOKEN"


@dataclass(frozen=True)
class Endpoint:
    """Where the manager serves metrics or the dashboard (``token``: the dashboard's actions)."""

    host: str
    port: int  # 0: any free port (the manager says which)
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ShardOptions:
    """The validated configuration of one shard manager (see :data:`OPTION_HELP`)."""

    bot_file: Path
    token: str = field(repr=False)
    total_shards: int | None = None  # None: "auto" (from GET /gateway/bot)
    shard_list: tuple[int, ...] | None = None
    respawn: bool = True
    spawn_timeout: float = 30.0
    eval_timeout: float = 5.0
    max_eval_bytes: int = 16 * 1024 * 1024  # ezlang.sharding.ipc.DEFAULT_MAX_PAYLOAD
    heartbeat_interval: float = 5.0
    heartbeat_timeout: float = 30.0
    max_restarts: int = 5
    restart_window: float = 3600.0
    max_concurrency: int | None = None  # None: "auto"
    identify_window: float | None = None  # None: x_identify_window from the API, else 5 s
    api: str | None = None
    redis: str | None = None
    progress: bool | None = None  # None: auto (a bar on a terminal, plain lines otherwise)
    metrics: Endpoint | None = None
    dashboard: Endpoint | None = None
    log_format: str = "text"
    live: bool | None = None  # None: auto (on when stdout and stderr are terminals)
    resume_window: float = 60.0  # see ezlang.sharding.sessions
    rest_global_rate: int = 50
    rest_invalid_limit: int = 10_000

    def public(self) -> dict[str, Any]:
        """What ``create_shard_manager`` returns: never the token."""
        out: dict[str, Any] = {
            "bot_file": str(self.bot_file),
            "total_shards": self.total_shards if self.total_shards is not None else "auto",
            "respawn": self.respawn,
        }
        if self.shard_list is not None:
            out["shard_list"] = list(self.shard_list)
        return out


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _type_error(name: str, expected: str, value: Any) -> EzError:
    return EzError(
        "TypeError",
        f"option '{name}' must be {expected}, got {_type_name(value)} {value!r}"
        if not isinstance(value, Mapping | list | tuple)
        else f"option '{name}' must be {expected}, got {_type_name(value)}",
    )


def _int(name: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _type_error(name, "a whole number", value)
    if isinstance(value, float) and not value.is_integer():
        raise EzError("ValueError", f"option '{name}' must be a whole number, got {value!r}")
    if value < minimum:
        raise EzError("ValueError", f"option '{name}' must be at least {minimum}, got {value!r}")
    return int(value)


def _seconds(name: str, value: Any, *, minimum: float = 0.0, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _type_error(name, "a number of seconds", value)
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise EzError("ValueError", f"option '{name}' must be a finite number of seconds")
    if value < minimum or (value == 0 and not allow_zero):
        raise EzError(
            "ValueError", f"option '{name}' must be a positive number of seconds, got {value:g}"
        )
    return value


def _auto_int(name: str, value: Any) -> int | None:
    if value == "auto" and isinstance(value, str):
        return None
    if isinstance(value, str):
        raise EzError("ValueError", f"option '{name}' must be \"auto\" or a number, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _type_error(name, '"auto" or a whole number', value)
    return _int(name, value, minimum=1)


def _string(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _type_error(name, "a string", value)
    if not value.strip():
        raise EzError("ValueError", f"option '{name}' must not be empty")
    return value


def check_bot_syntax(path: Path) -> None:
    """Raise the bot file's ``SyntaxError`` (an ``EzError`` with its position), if it has one."""
    if path.suffix == ".js":
        from ezlang.sharding.jsshard import check_js_bot

        check_js_bot(path)
        return
    if path.suffix == ".py":
        try:
            compile(path.read_text(encoding="utf-8"), str(path), "exec")
        except SyntaxError as exc:
            raise EzError(
                "SyntaxError",
                f"{path.name} line {exc.lineno}: {exc.msg} (the bot file cannot start)",
            ) from None
        return
    from ezlang.lang import compile_file

    compile_file(str(path))


def shard_id_arg(value: Any, what: str) -> int:
    """A shard id argument of ``what`` (``respawn_shard``, ``broadcast_eval``'s ``shard``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EzError("TypeError", f"{what}: the shard id must be a number, got {value!r}")
    if isinstance(value, float) and not value.is_integer():
        raise EzError("ValueError", f"{what}: the shard id must be a whole number")
    return int(value)


def timeout_arg(value: Any, default: float) -> float:
    """A call's ``timeout`` option in seconds (``default`` when not given)."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EzError("TypeError", f"option 'timeout' must be a number of seconds, got {value!r}")
    if not value > 0 or not math.isfinite(value):
        raise EzError("ValueError", f"option 'timeout' must be a positive number, got {value!r}")
    return float(value)


def resolve_bot_file(bot_file: Any, base_dir: Path | None = None) -> Path:
    """Check ``bot_file`` (a ``.ez``/``.ezlang``/``.py``/``.js`` file that exists) and make it
    absolute.

    A relative path is looked up next to ``base_dir`` (the running script) first, then in the
    current directory, so ``create_shard_manager("bot.ez")`` works from any working directory.
    """
    if not isinstance(bot_file, str | os.PathLike):
        raise EzError(
            "TypeError", f"bot_file must be a string (a file path), got {_type_name(bot_file)}"
        )
    path = Path(bot_file)
    if not str(bot_file).strip():
        raise EzError("ValueError", "bot_file must not be empty")
    if path.suffix not in (".ez", ".ezlang", ".py", ".js"):
        raise EzError(
            "ValueError",
            "bot_file must be an EasyLang file (.ez), a discord.py bot (.py) or a discord.js "
            f"bot (.js), got '{bot_file}'",
        )
    candidates = (
        [path]
        if path.is_absolute()
        else [
            *([base_dir / path] if base_dir is not None else []),
            Path.cwd() / path,
        ]
    )
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise EzError("ValueError", f"bot_file '{bot_file}' does not exist")


def parse_options(
    bot_file: Any,
    options: Mapping[str, Any] | ShardOptions | None = None,
    *,
    base_dir: Path | None = None,
    default_token: str | None = None,
    default_api: str | None = None,
) -> ShardOptions:
    """Validate ``create_shard_manager(bot_file, options)`` and return a :class:`ShardOptions`.

    ``default_token``/``default_api`` come from the run context (``--sandbox``/``--api``); the
    environment (``DISCORD_TOKEN``, ``EZLANG_DISCORD_API``, ``EZLANG_REDIS_URL``) is the last
    resort. Raises ``EzError`` (``TypeError``/``ValueError``) naming the offending option.
    """
    if isinstance(options, ShardOptions):
        return options
    path = resolve_bot_file(bot_file, base_dir)
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise EzError("TypeError", f"options must be an object, got {_type_name(options)}")
    for key in options:
        if key not in OPTION_HELP:
            known = ", ".join(OPTION_HELP)
            close = difflib.get_close_matches(str(key), OPTION_HELP, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise EzError("ValueError", f"unknown option '{key}' ({hint}known options: {known})")
    o = dict(options)
    kw: dict[str, Any] = {}

    token = o.get("token")
    if token is None:
        token = default_token or os.environ.get("DISCORD_TOKEN")
        if not token:
            raise EzError(
                "ValueError",
                "option 'token' is required (or set the DISCORD_TOKEN environment variable)",
            )
    kw["token"] = _string("token", token).strip()

    if o.get("total_shards") is not None:
        kw["total_shards"] = _auto_int("total_shards", o["total_shards"])
    if o.get("max_concurrency") is not None:
        kw["max_concurrency"] = _auto_int("max_concurrency", o["max_concurrency"])
    if o.get("shard_list") is not None:
        raw = o["shard_list"]
        if raw == "auto" and isinstance(raw, str):
            raw = None
        elif not isinstance(raw, list | tuple):
            raise _type_error("shard_list", "an array of shard ids", raw)
        else:
            ids: list[int] = []
            for item in raw:
                if isinstance(item, bool) or not isinstance(item, int | float):
                    raise EzError(
                        "TypeError", f"option 'shard_list' must hold whole numbers, got {item!r}"
                    )
                if isinstance(item, float) and not item.is_integer() or item < 0:
                    raise EzError(
                        "ValueError",
                        f"option 'shard_list' must hold shard ids >= 0, got {item!r}",
                    )
                if int(item) in ids:
                    raise EzError(
                        "ValueError", f"option 'shard_list' lists shard {int(item)} twice"
                    )
                ids.append(int(item))
            if not ids:
                raise EzError("ValueError", "option 'shard_list' must not be empty")
            total = kw.get("total_shards")
            if total is not None:
                bad = [i for i in ids if i >= total]
                if bad:
                    raise EzError(
                        "ValueError",
                        f"option 'shard_list' has shard {bad[0]} outside [0, {total}) "
                        f"(total_shards is {total})",
                    )
            kw["shard_list"] = tuple(sorted(ids))
    if o.get("respawn") is not None:
        if not isinstance(o["respawn"], bool):
            raise _type_error("respawn", "true or false", o["respawn"])
        kw["respawn"] = o["respawn"]
    for name in (
        "spawn_timeout",
        "eval_timeout",
        "heartbeat_interval",
        "heartbeat_timeout",
        "restart_window",
        "identify_window",
    ):
        if o.get(name) is not None:
            kw[name] = _seconds(name, o[name])
    if o.get("resume_window") is not None:
        kw["resume_window"] = _seconds("resume_window", o["resume_window"], allow_zero=True)
    if o.get("max_restarts") is not None:
        kw["max_restarts"] = _int("max_restarts", o["max_restarts"], minimum=0)
    hb = kw.get("heartbeat_interval", 5.0)
    hb_timeout = kw.get("heartbeat_timeout", 30.0)
    if hb_timeout <= hb:
        raise EzError(
            "ValueError",
            f"option 'heartbeat_timeout' ({hb_timeout:g} s) must be longer than "
            f"heartbeat_interval ({hb:g} s)",
        )
    api = o.get("api")
    if api is None:
        api = default_api or os.environ.get("EZLANG_DISCORD_API") or None
    if api is not None:
        api = _string("api", api).rstrip("/")
        if not api.startswith(("http://", "https://")):
            raise EzError("ValueError", f"option 'api' must be an http(s) URL, got {api!r}")
        kw["api"] = api
    redis = o.get("redis")
    if redis is None:
        redis = os.environ.get("EZLANG_REDIS_URL") or None
    if redis is not None:
        redis = _string("redis", redis)
        if not redis.startswith(("redis://", "rediss://", "unix://")):
            raise EzError("ValueError", f"option 'redis' must be a redis:// URL, got {redis!r}")
        kw["redis"] = redis
    if _auto_bool("progress", o.get("progress")) is not None:
        kw["progress"] = o["progress"]
    kw.update(_monitoring_options(o))
    for name in ("rest_global_rate", "rest_invalid_limit"):
        if o.get(name) is not None:
            kw[name] = _int(name, o[name], minimum=1)
    if o.get("max_eval_bytes") is not None:
        # 1 KiB at least: below that not even stats or an error message would fit.
        kw["max_eval_bytes"] = _int("max_eval_bytes", o["max_eval_bytes"], minimum=1024)
    return ShardOptions(bot_file=path, **kw)


def _port(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _type_error(name, "a port number", value)
    if isinstance(value, float) and not value.is_integer() or not 0 <= value <= 65535:
        raise EzError(
            "ValueError", f"option '{name}' must be a port from 0 to 65535 (0: any free port)"
        )
    return int(value)


def _endpoint(name: str, value: Any, keys: tuple[str, ...]) -> Endpoint:
    """``9100`` or ``{port: 9100, host: "0.0.0.0", …}`` (host defaults to loopback)."""
    if not isinstance(value, Mapping):
        return Endpoint("127.0.0.1", _port(name, value))
    for key in value:
        if key not in keys:
            raise EzError(
                "ValueError", f"option '{name}' has unknown key '{key}' (known: {', '.join(keys)})"
            )
    if value.get("port") is None:
        raise EzError("ValueError", f"option '{name}' needs a port, like {{port: 9100}}")
    host = _string(f"{name}.host", value["host"]) if value.get("host") is not None else "127.0.0.1"
    token = value.get("token")
    if token is not None:
        token = _string(f"{name}.token", token)
    return Endpoint(host, _port(f"{name}.port", value["port"]), token)


def _monitoring_options(o: Mapping[str, Any]) -> dict[str, Any]:
    """The ``metrics``, ``dashboard``, ``log_format`` and ``live`` options."""
    kw: dict[str, Any] = {}
    if o.get("metrics") is not None:
        kw["metrics"] = _endpoint("metrics", o["metrics"], ("port", "host"))
    if o.get("dashboard") is not None:
        board = _endpoint("dashboard", o["dashboard"], ("port", "host", "token"))
        if board.token is None and os.environ.get(ENV_DASHBOARD_TOKEN):
            board = Endpoint(board.host, board.port, os.environ[ENV_DASHBOARD_TOKEN])
        kw["dashboard"] = board
    log_format = o.get("log_format")
    if log_format is not None:
        if log_format not in ("text", "json") or not isinstance(log_format, str):
            raise EzError(
                "ValueError", f'option \'log_format\' must be "text" or "json", got {log_format!r}'
            )
        kw["log_format"] = log_format
    if _auto_bool("live", o.get("live")) is not None:
        kw["live"] = o["live"]
    return kw


def _auto_bool(name: str, value: Any) -> bool | None:
    """An ``"auto"``/``true``/``false`` option: ``None`` for auto (or not given)."""
    if value is None or (isinstance(value, str) and value == "auto"):
        return None
    if not isinstance(value, bool):
        raise _type_error(name, '"auto", true or false', value)
    return value


assert {f.name for f in fields(ShardOptions)} - {"bot_file"} == set(OPTION_HELP)
