"""Connections to the bot's Redis: URL checks, clients, what counts as "Redis is down", warnings.

* :func:`connect` opens a ``redis.asyncio`` client with short timeouts and *no* hidden retries —
  the callers decide what a lost Redis means (wait and warn, or fall back to local data).
* :data:`REDIS_DOWN_ERRORS` are the failures that mean "not reachable right now"; a refused
  login (:func:`is_auth_error`) is one too, but it will not heal by itself and says so.
* :class:`RateLimitedWarning` prints the "Redis is unreachable" warning once per interval instead
  of once per retry.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, RedisError
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

#: Every failure a Redis command can end in: down, or refused (login, ACL, a bad reply).
REDIS_FAILURES: tuple[type[BaseException], ...] = (*REDIS_DOWN_ERRORS, RedisError)

Warn = Callable[[str], None]


def stderr_warn(message: str) -> None:
    """Default warning sink: one line on stderr, prefixed so it stands out from bot output."""
    print(f"ezlang: warning: {message}", file=sys.stderr, flush=True)


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


class RateLimitedWarning:
    """Emit a warning at most once per ``interval`` seconds per topic, counting what it held back.

    A Redis outage makes every retry loop fail many times a second; the user needs one clear line
    saying what is wrong and what waits, then a reminder now and then, then one line when it is
    over. A flapping Redis (down, back, down again within the interval — each client notices a
    restart separately) still gives at most one "down" and one "back" line per interval: the
    interval counts from the last *printed* warning, and "back" is said only after a printed one.
    """

    def __init__(self, warn: Warn = stderr_warn, interval: float = 30.0) -> None:
        self._warn = warn
        self.interval = interval
        self._last: dict[str, float] = {}  # topic -> when its warning was last printed
        self._held: dict[str, int] = {}
        self._active: set[str] = set()  # topics warned about (printed or held), not resolved
        self._printed: set[str] = set()  # active topics whose warning the user has seen

    def __call__(self, topic: str, message: str) -> None:
        """Warn about ``topic`` unless it was warned about less than ``interval`` seconds ago."""
        now = time.monotonic()
        self._active.add(topic)
        last = self._last.get(topic)
        if last is not None and now - last < self.interval:
            self._held[topic] = self._held.get(topic, 0) + 1
            return
        held = self._held.pop(topic, 0)
        self._last[topic] = now
        self._printed.add(topic)
        self._warn(message + (f" ({held} similar warnings held back)" if held else ""))

    def resolved(self, topic: str, message: str) -> None:
        """Say once that ``topic`` is over (only if the user saw it begin)."""
        if topic not in self._active:
            return
        self._active.discard(topic)
        if topic in self._printed:
            self._printed.discard(topic)
            self._warn(message)


def down_message(url: str, exc: BaseException | str) -> str:
    """The one warning a Redis outage gives, whichever part noticed it first."""
    if isinstance(exc, BaseException) and is_auth_error(exc):
        return failure_message(url, "log in", exc) + "; everything that needs Redis waits"
    why = exc if isinstance(exc, str) else describe_error(exc)
    return (
        f"Redis at {redact_url(url)} is unreachable ({why}); running shards keep running and "
        "local calls work; calls to shards on other hosts and new IDENTIFYs wait until it is back"
    )


def failure_message(url: str, doing: str, exc: BaseException) -> str:
    """One line saying why Redis at ``url`` failed us while we tried ``doing`` (an infinitive).

    A refused login and a refused command (an ACL) are told apart from an outage: they will not
    heal by waiting, and the fix is in the ``redis`` option or the Redis ACL.
    """
    where = redact_url(url)
    why = describe_error(exc)
    if is_auth_error(exc) and not _is_no_permission(exc):
        return (
            f"Redis at {where} refused the login ({why}); check the user and password in the "
            "'redis' option"
        )
    if _is_no_permission(exc):
        return (
            f"Redis at {where} refused to let this user {doing} ({why}); see the ACL example "
            "in the multi-host part of docs/SHARDING.md"
        )
    if isinstance(exc, REDIS_DOWN_ERRORS):
        return f"cannot reach Redis at {where} to {doing} ({why})"
    return f"Redis at {where} failed to {doing} ({why})"


def _is_no_permission(exc: BaseException) -> bool:
    from redis.exceptions import NoPermissionError

    return isinstance(exc, NoPermissionError)


def back_message(url: str) -> str:
    """The line that ends a Redis outage warning."""
    return f"Redis at {redact_url(url)} is reachable again; cross-host calls and IDENTIFYs resume"


def describe_error(exc: BaseException) -> str:
    """A one-line description of a Redis failure for warnings."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def is_auth_error(exc: BaseException) -> bool:
    """Whether Redis refused this client's login (wrong password or user, or no permission)."""
    from redis.exceptions import AuthenticationWrongNumberOfArgsError, NoPermissionError

    return isinstance(
        exc, AuthenticationError | AuthenticationWrongNumberOfArgsError | NoPermissionError
    )


#: Longest wait for a Redis client to close; shutdown never hangs on a wedged socket.
CLOSE_TIMEOUT = 3.0


async def close_client(client: aioredis.Redis, what: str) -> None:
    """Close ``client`` within :data:`CLOSE_TIMEOUT`; a failure is logged, never raised.

    Closing is best effort (the connection may already be dead), but a failure other than
    "Redis is down" would be a bug worth a line on stderr.
    """
    try:
        await asyncio.wait_for(client.aclose(), CLOSE_TIMEOUT)
    except REDIS_DOWN_ERRORS:
        pass  # already cut off: nothing left to close
    except RedisError as exc:
        stderr_warn(f"closing the Redis connection of the {what} failed: {describe_error(exc)}")


async def close_in_background(closing: Awaitable[None], what: str) -> None:
    """Wait (bounded) for ``closing`` to finish; it may go on alone, but never unobserved.

    Unlike ``wait_for``, a cancellation of the caller does not cancel the close half way (a
    subscription closed half way leaks its connection); unlike ``shield``, a failure of the
    orphaned close is still retrieved and, unless Redis is simply down, logged.
    """
    task = asyncio.ensure_future(closing)
    task.add_done_callback(lambda t: _log_close_failure(t, what))
    await asyncio.wait({task}, timeout=CLOSE_TIMEOUT)


def _log_close_failure(task: asyncio.Future[None], what: str) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None and not isinstance(exc, REDIS_DOWN_ERRORS):
        stderr_warn(f"closing the Redis {what} failed: {describe_error(exc)}")
