"""Shared plumbing of the Redis backends: connections, key names, error mapping, warnings.

Everything multi-host in ezlang goes through one Redis database. This module keeps the parts the
identify queue, the shard directory and the cross-host bus have in common:

* :func:`connect` opens a ``redis.asyncio`` client with short timeouts and *no* hidden retries —
  the callers decide what a lost Redis means (wait and warn, or fall back to local data).
* :class:`RedisKeys` names every key of one bot (application id). Keys share the hash tag
  ``{<application id>}`` so a bot's keys live on one slot (Lua scripts touching several keys stay
  valid on a Redis Cluster or a proxy).
* :class:`RateLimitedWarning` prints the "Redis is unreachable" warning once per interval instead
  of once per retry.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ezlang.lang.errors import EzError

#: Exceptions that mean "Redis is not reachable right now" (as opposed to a bug or a bad reply).
REDIS_DOWN_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
    OSError,
    TimeoutError,
)

#: Environment variable equivalent of the ``redis`` manager option.
REDIS_URL_ENV = "EZLANG_REDIS_URL"
#: Environment variable naming this host in the shard directory (default: machine name and pid).
HOST_NAME_ENV = "EZLANG_HOST_NAME"

Warn = Callable[[str], None]


def stderr_warn(message: str) -> None:
    """Default warning sink: one line on stderr, prefixed so it stands out from bot output."""
    print(f"ezlang: warning: {message}", file=sys.stderr, flush=True)


def default_host_name() -> str:
    """This manager's name in the directory: ``$EZLANG_HOST_NAME`` or ``<machine>/<pid>``.

    The pid is part of the default so two managers on one machine (a common test set-up, and a
    way to use more cores) never mistake each other for themselves.
    """
    return os.environ.get(HOST_NAME_ENV) or f"{socket.gethostname()}/{os.getpid()}"


def validate_redis_url(url: object) -> str:
    """Check the ``redis`` option; return it. Raises a clear ``EzError`` naming the option."""
    if not isinstance(url, str):
        raise EzError("TypeError", f"option 'redis' must be a string URL, got {type(url).__name__}")
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise EzError(
            "ValueError",
            "option 'redis' must look like \"redis://[:password@]host:port/db\" "
            f'(or rediss:// for TLS), got "{redact_url(url)}"',
        )
    if parts.scheme != "unix" and not parts.hostname:
        raise EzError("ValueError", f"option 'redis' has no host: \"{redact_url(url)}\"")
    try:
        _ = parts.port
    except ValueError:
        raise EzError(
            "ValueError", f"option 'redis' has a bad port: \"{redact_url(url)}\""
        ) from None
    return url


def redact_url(url: str) -> str:
    """The URL without its password, for messages (a Redis password is a secret like the token)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.username:
        netloc = f"{parts.username}:***@{netloc}"
    else:
        netloc = f":***@{netloc}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return parts._replace(netloc=netloc).geturl()


def connect(url: str, *, socket_timeout: float | None = 5.0) -> aioredis.Redis:
    """A ``redis.asyncio`` client for ``url`` that fails fast instead of retrying for long.

    One immediate retry, on a fresh connection: after a Redis restart every pooled connection
    is dead and would otherwise fail one command each. More retries would only delay the
    "Redis is unreachable" handling the callers do themselves. (A retried identify grant is
    safe: the bucket key makes a repeat a refusal; the restart detection is server-side.)
    """
    return aioredis.from_url(
        url,
        socket_connect_timeout=2.0,
        socket_timeout=socket_timeout,
        retry=Retry(NoBackoff(), 1),
        decode_responses=True,
    )


@dataclass(frozen=True, slots=True)
class RedisKeys:
    """Names of every Redis key of one bot (application id)."""

    app_id: str

    @property
    def prefix(self) -> str:
        return f"ezlang:{{{self.app_id}}}:"

    @property
    def config(self) -> str:
        """Hash: the shared decisions (total_shards, max_concurrency, identify_window, …)."""
        return self.prefix + "config"

    @property
    def shards(self) -> str:
        """Hash: shard id → JSON info (host, pid, status, ready, …)."""
        return self.prefix + "shards"

    @property
    def host_prefix(self) -> str:
        return self.prefix + "host:"

    def host(self, name: str) -> str:
        """String with a TTL: present while host ``name`` heartbeats."""
        return self.host_prefix + name

    def identify_bucket(self, bucket: int) -> str:
        """String with a TTL of one window: present while bucket ``bucket`` is taken."""
        return f"{self.prefix}identify:{bucket}"

    @property
    def identify_epoch(self) -> str:
        """String: which Redis run the identify buckets belong to and when granting may start."""
        return self.prefix + "identify:epoch"

    def requests(self, host: str) -> str:
        """Pub/sub channel on which host ``host`` takes cross-host requests."""
        return f"{self.prefix}req:{host}"

    def replies(self, host: str) -> str:
        """Pub/sub channel on which host ``host`` receives replies to its requests."""
        return f"{self.prefix}rep:{host}"


class RateLimitedWarning:
    """Emit a warning at most once per ``interval`` seconds per topic, counting what it held back.

    A Redis outage makes every retry loop fail many times a second; the user needs one clear line
    saying what is wrong and what waits, then a reminder now and then, then one line when it is
    over.
    """

    def __init__(self, warn: Warn = stderr_warn, interval: float = 30.0) -> None:
        self._warn = warn
        self.interval = interval
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def __call__(self, topic: str, message: str) -> None:
        """Warn about ``topic`` unless it was warned about less than ``interval`` seconds ago."""
        now = time.monotonic()
        last = self._last.get(topic)
        if last is not None and now - last < self.interval:
            self._held[topic] = self._held.get(topic, 0) + 1
            return
        held = self._held.pop(topic, 0)
        self._last[topic] = now
        self._warn(message + (f" ({held} similar warnings held back)" if held else ""))

    def active(self, topic: str) -> bool:
        """Whether ``topic`` was warned about and has not been resolved."""
        return topic in self._last

    def resolved(self, topic: str, message: str) -> None:
        """Say once that ``topic`` is over (only if it was warned about)."""
        if self._last.pop(topic, None) is not None:
            self._held.pop(topic, None)
            self._warn(message)


def down_message(url: str, exc: BaseException | str) -> str:
    """The one warning a Redis outage gives, whichever part noticed it first."""
    why = exc if isinstance(exc, str) else describe_error(exc)
    return (
        f"Redis at {redact_url(url)} is unreachable ({why}); running shards keep running and "
        "local calls work; calls to shards on other hosts and new IDENTIFYs wait until it is back"
    )


def back_message(url: str) -> str:
    """The line that ends a Redis outage warning."""
    return f"Redis at {redact_url(url)} is reachable again; cross-host calls and IDENTIFYs resume"


def describe_error(exc: BaseException) -> str:
    """A one-line description of a Redis failure for warnings."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
