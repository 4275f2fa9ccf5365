"""Cross-host shard calls over Redis pub/sub.

Every manager subscribes to two channels of its own: ``req:<host>`` for requests from other
hosts and ``rep:<host>`` for the replies to its own requests. A call publishes one JSON request
to the owner's request channel and waits for the reply with the caller's timeout; the owner runs
it through its ordinary local path (``call_shard``) and publishes the result back.

Why pub/sub rather than lists: ``PUBLISH`` answers how many subscribers received the message,
so a request to a host that is gone fails at once (no waiting out the timeout on a dead host),
and nothing is left queued in Redis for a host that will never read it. One subscriber
connection per host carries every reply, so a broadcast to many shards does not need one
blocking connection per pending call.

Results and payloads are JSON (EasyLang values are JSON-shaped). Errors travel as
``{kind, message}`` and are raised again as the same :class:`EzError` on the calling host.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from ezlang.lang.errors import KINDS, EzError
from ezlang.sharding.interfaces import ShardCallError
from ezlang.sharding.ipc import DEFAULT_MAX_PAYLOAD, REQUEST_FIX, RESULT_FIX, too_large
from ezlang.sharding.redis.connection import (
    REDIS_DOWN_ERRORS,
    RateLimitedWarning,
    Warn,
    back_message,
    close_client,
    close_in_background,
    connect,
    describe_error,
    down_message,
    failure_message,
    is_auth_error,
    redact_url,
    stderr_warn,
)
from ezlang.sharding.redis.keys import RedisKeys, default_host_name
from ezlang.sharding.redis.signing import BusSigner, RejectedMessage

__all__ = ["LocalCall", "RedisBus", "HostUnreachable"]

#: The manager's local entry point: ``call_shard(shard_id, op, payload, timeout) -> result``.
LocalCall = Callable[[int, str, Any, float | None], Awaitable[Any]]

#: Extra seconds the caller waits beyond the remote timeout, for the two Redis hops.
_REPLY_SLACK = 0.5
#: Seconds between liveness pings on the subscription connection.
_PING_INTERVAL = 2.0
#: Longest wait for Redis connections to close; shutdown never hangs on a wedged socket.
_CLOSE_TIMEOUT = 3.0


class HostUnreachable(EzError):
    """The shard's host is not listening (gone, or Redis is unreachable)."""

    def __init__(self, message: str, host: str | None) -> None:
        super().__init__("ShardingError", message)
        self.host = host


class RedisBus:
    """Request/reply between the managers of one bot, through Redis pub/sub.

    ``await bus.start(local_call)`` subscribes; ``await bus.call(host, shard_id, op, payload,
    timeout)`` runs ``local_call`` on host ``host`` and returns its result or raises its error.
    """

    def __init__(
        self,
        redis_url: str,
        app_id: str | int,
        *,
        host: str | None = None,
        warn: Warn = stderr_warn,
        warn_interval: float = 30.0,
        warnings: RateLimitedWarning | None = None,
        client: aioredis.Redis | None = None,
        secret: str | bytes,
        max_age: float = 30.0,
        max_bytes: int = DEFAULT_MAX_PAYLOAD,
    ) -> None:
        self.redis_url = redis_url
        #: Largest request payload or reply result, in bytes of JSON (``max_eval_bytes``):
        #: over it a call fails with a ``ValueError`` instead of being published. Redis drops
        #: a subscriber whose pending output passes ``client-output-buffer-limit pubsub``
        #: (32 MB by default), which would cut every host's replies, not just this one.
        self.max_bytes = max_bytes
        # Every message is signed: only the bot's own managers may run code through the bus.
        self._signer = BusSigner(secret, max_age=max_age)
        self.keys = RedisKeys(str(app_id))
        self.host = host or default_host_name()
        self._redis = client or connect(redis_url)
        self._owns_client = client is None
        # The subscriber blocks on reads; it gets its own connection with no read timeout.
        self._sub_client = connect(redis_url, socket_timeout=None)
        self._warnings = warnings or RateLimitedWarning(warn, warn_interval)
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._nonce = f"{os.getpid()}-{random.getrandbits(32):08x}"
        self._local_call: LocalCall | None = None
        self._reader: asyncio.Task[None] | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._subscribed = asyncio.Event()
        # Set once the first subscription attempt succeeded or was refused (start() waits).
        self._settled = asyncio.Event()
        self._last_error: BaseException | None = None
        #: How many incoming messages were dropped as unsigned, forged, stale or replayed.
        self.rejected = 0

    async def start(self, local_call: LocalCall, *, timeout: float = 5.0) -> None:
        """Subscribe and serve requests with ``local_call``; returns once subscribed.

        Raises ``ShardingError`` if Redis cannot be reached within ``timeout``; the reader keeps
        retrying in the background either way.
        """
        self._local_call = local_call
        if self._reader is None:
            self._reader = asyncio.create_task(
                self._read_loop(), name=f"ezlang redis bus {self.host}"
            )
        try:
            await asyncio.wait_for(self._settled.wait(), timeout)
        except TimeoutError:
            why = f" ({describe_error(self._last_error)})" if self._last_error else ""
            raise EzError(
                "ShardingError",
                f"cannot subscribe to Redis at {redact_url(self.redis_url)} within "
                f"{timeout:g} s{why}",
            ) from None
        if not self._subscribed.is_set() and self._last_error is not None:
            doing = "subscribe to the bus channels"
            raise EzError("ShardingError", failure_message(self.redis_url, doing, self._last_error))

    def serve_with(self, local_call: LocalCall) -> None:
        """Answer other hosts' calls with ``local_call`` from now on (after :meth:`start`)."""
        self._local_call = local_call

    async def _read_loop(self) -> None:
        backoff = 0.1
        while self._reader is not None:  # None once close() began
            # Subscribe confirmations and PING replies are not ignored: any reply proves the
            # connection alive (redis-py mangles a decoded PONG into an odd dict, so we only look
            # at "message" entries and count everything else as a sign of life).
            pubsub = self._sub_client.pubsub(ignore_subscribe_messages=False)
            try:
                await pubsub.subscribe(self.keys.requests(self.host), self.keys.replies(self.host))
                self._subscribed.set()
                self._settled.set()
                self._last_error = None
                if backoff > 0.1:
                    self._warnings.resolved("down", back_message(self.redis_url))
                backoff = 0.1
                # A connection that died silently (a network cut, Redis restarted while the
                # link was down) would leave us "subscribed" to nothing for ever: ping it, and
                # reconnect when Redis stops answering.
                heard = time.monotonic()
                next_ping = heard + _PING_INTERVAL
                while self._reader is not None:
                    msg = await pubsub.get_message(timeout=min(1.0, _PING_INTERVAL))
                    now = time.monotonic()
                    if msg is not None:
                        heard = now
                        if msg.get("type") == "message":
                            self._dispatch_safely(msg["channel"], msg["data"])
                    if now - heard > 3 * _PING_INTERVAL:
                        raise RedisConnectionError(
                            f"no answer from Redis for {now - heard:.0f} s on the subscription"
                        )
                    if now >= next_ping:
                        await asyncio.wait_for(pubsub.ping(), _PING_INTERVAL)
                        next_ping = now + _PING_INTERVAL
            except asyncio.CancelledError:
                raise
            except REDIS_DOWN_ERRORS as exc:
                self._subscribed.clear()
                self._last_error = exc
                if is_auth_error(exc):
                    self._settled.set()  # a wrong password does not heal by waiting
                self._warnings("down", down_message(self.redis_url, exc))
                self._fail_pending(f"lost the connection to Redis ({describe_error(exc)})")
            except RedisError as exc:  # refused (an ACL without these channels): retry, say why
                self._subscribed.clear()
                self._last_error = exc
                self._settled.set()
                doing = "subscribe to the bus channels"
                self._warnings("refused", failure_message(self.redis_url, doing, exc))
                self._fail_pending(failure_message(self.redis_url, doing, exc))
            finally:
                # Bounded: closing a subscription whose connection is wedged must not hang the
                # reader (and with it close()).
                await close_in_background(pubsub.aclose(), "bus subscription")
            await asyncio.sleep(backoff * (0.5 + random.random()))
            backoff = min(backoff * 2, 2.0)

    def _fail_pending(self, why: str) -> None:
        # A reply published while we were disconnected is lost for good: fail fast, the caller
        # may retry, rather than hang until the timeout.
        for fut in self._pending.values():
            if not fut.done():
                fut.set_result({"ok": False, "kind": "ShardingError", "message": why, "lost": True})

    def _dispatch_safely(self, channel: str, data: str) -> None:
        # The reader must outlive any one message: a bug handling one is a line, not a dead bus.
        try:
            self._dispatch(channel, data)
        except Exception as exc:
            self._warnings("dispatch", f"could not handle a bus message on {channel}: {exc!r}")

    def _dispatch(self, channel: str, data: str) -> None:
        try:
            msg = self._signer.open(channel, data)
        except RejectedMessage as exc:
            # Whoever sent it cannot be answered; one line (rate-limited) tells the operator.
            self._warnings(
                "rejected",
                f"dropped a message on Redis channel {channel}: {exc.reason} — only the "
                "managers of this bot (same token) may use the bus; is something else "
                "publishing there? (see 'Securing Redis' in docs/SHARDING.md)",
            )
            self.rejected += 1
            return
        if channel == self.keys.replies(self.host):
            req_id = msg.get("id")
            fut = self._pending.get(req_id) if isinstance(req_id, str) else None
            if fut is not None and not fut.done():
                fut.set_result(msg)
        else:
            task = asyncio.create_task(self._serve(msg))
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)

    async def _serve(self, req: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"id": req.get("id")}
        try:
            if self._local_call is None:
                raise EzError("ShardingError", f"host '{self.host}' is not serving calls")
            timeout = req.get("timeout")
            if "shard_ids" in req:
                # One request for all of this host's shards: run them in parallel, one reply.
                outcomes = await asyncio.gather(
                    *(
                        self._local_call(int(i), str(req["op"]), req.get("payload"), timeout)
                        for i in req["shard_ids"]
                    ),
                    return_exceptions=True,
                )
                ids = [int(i) for i in req["shard_ids"]]
                reply.update(
                    ok=True,
                    result=[_outcome(i, o, self.host) for i, o in zip(ids, outcomes, strict=True)],
                )
            else:
                result = await self._local_call(
                    int(req["shard_id"]), str(req["op"]), req.get("payload"), timeout
                )
                reply.update(ok=True, result=result)
        except EzError as exc:
            reply.update(_failure(exc))
        except Exception as exc:  # a bug on this host must not leave the caller hanging
            reply.update(ok=False, kind="ShardingError", message=f"host '{self.host}': {exc!r}")
        channel = self.keys.replies(str(req.get("from")))
        if reply.get("ok"):
            reply = self._bounded(reply, req)
        try:
            data = self._signer.seal(channel, reply)
        except (TypeError, ValueError) as exc:
            data = self._signer.seal(
                channel,
                {
                    "id": req.get("id"),
                    "ok": False,
                    "kind": "ShardingError",
                    "message": f"result of shard {req.get('shard_id')} cannot be sent to "
                    f"another host: {exc}",
                },
            )
        try:
            await self._redis.publish(channel, data)
        except REDIS_DOWN_ERRORS as exc:
            # The caller's wait ends with its timeout (or at once when its reader sees the
            # outage); the outage itself is reported once by the shared warning.
            self._warnings("down", down_message(self.redis_url, exc))

    def _bounded(self, reply: dict[str, Any], req: dict[str, Any]) -> dict[str, Any]:
        """``reply``, or a failed reply when its result is over :attr:`max_bytes` (each shard's
        result is bounded already, but a batch carries several in one message)."""
        try:
            size = len(json.dumps(reply.get("result")))
        except (TypeError, ValueError):
            return reply  # said by the caller of this method, which seals it
        if size <= self.max_bytes:
            return reply
        shards = req.get("shard_ids", [req.get("shard_id")])
        what = f"the result of shards {_id_list(shards)} on host '{self.host}' (sent as one)"
        if "shard_ids" not in req:
            what = f"the result of shard {req.get('shard_id')} on host '{self.host}'"
        return {
            "id": reply.get("id"),
            **_failure(too_large(what, size, self.max_bytes, RESULT_FIX)),
        }

    async def call_many(
        self,
        host: str,
        shard_ids: list[int],
        op: str,
        payload: Any = None,
        timeout: float | None = None,
    ) -> list[Any | EzError]:
        """Run ``op`` on several shards of host ``host`` in one round trip.

        Returns one item per shard, in order: its result, or the :class:`EzError` it raised.
        The whole call raises like :meth:`call` (host unreachable, timeout).
        """
        results = await self._request(
            host,
            {"shard_ids": list(shard_ids)},
            op,
            payload,
            timeout,
            what=f"shards {_id_list(shard_ids)}",
        )
        out: list[Any | EzError] = []
        for item in results:
            if item.get("ok"):
                out.append(item.get("result"))
            else:
                out.append(_error_of(item))
        return out

    async def call(
        self,
        host: str,
        shard_id: int,
        op: str,
        payload: Any = None,
        timeout: float | None = None,
    ) -> Any:
        """Run ``op`` on shard ``shard_id`` of host ``host``; same result/errors as locally.

        Raises :class:`HostUnreachable` when no manager listens for ``host`` (or Redis stays
        unreachable), ``TimeoutError`` when the reply misses ``timeout`` (+ a little slack).
        """
        return await self._request(
            host, {"shard_id": shard_id}, op, payload, timeout, what=f"shard {shard_id}"
        )

    async def _request(
        self,
        host: str,
        target: dict[str, Any],
        op: str,
        payload: Any,
        timeout: float | None,
        *,
        what: str,
    ) -> Any:
        size = len(json.dumps(payload))
        if size > self.max_bytes:
            raise too_large(f"the {op} request to {what}", size, self.max_bytes, REQUEST_FIX)
        deadline = None if timeout is None else time.monotonic() + timeout + _REPLY_SLACK
        req_id = f"{self.host}|{self._nonce}|{next(self._ids)}"
        data = self._signer.seal(
            self.keys.requests(host),
            {
                "id": req_id,
                "from": self.host,
                **target,
                "op": op,
                "payload": payload,
                "timeout": timeout,
            },
        )
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = fut
        try:
            await self._publish_request(host, what, data, deadline)
            remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            try:
                reply = await asyncio.wait_for(fut, remaining)
            except TimeoutError:
                raise EzError(
                    "TimeoutError",
                    f"{what} on host '{host}' did not answer within {timeout:g} s",
                ) from None
        finally:
            self._pending.pop(req_id, None)
        if reply.get("ok"):
            return reply.get("result")
        if reply.get("lost"):
            raise HostUnreachable(str(reply.get("message")), host)
        raise _error_of(reply)

    async def _publish_request(
        self, host: str, what: str, data: str, deadline: float | None
    ) -> None:
        backoff = 0.1
        while True:
            if not self._subscribed.is_set():
                # Without our reply subscription the answer would be lost; wait for it.
                exc: BaseException | None = None
            else:
                try:
                    receivers = await self._redis.publish(self.keys.requests(host), data)
                except REDIS_DOWN_ERRORS as e:
                    exc = e
                else:
                    if receivers == 0:
                        raise HostUnreachable(
                            f"{what} on host '{host}' cannot be reached: that host is gone "
                            "(its manager is not running or lost its Redis connection)",
                            host,
                        )
                    return
            why = describe_error(exc) if exc else "not subscribed"
            self._warnings("down", down_message(self.redis_url, why))
            if deadline is not None and time.monotonic() + backoff > deadline:
                raise HostUnreachable(
                    f"{what} on host '{host}' cannot be reached: Redis at "
                    f"{redact_url(self.redis_url)} is unreachable ({why})",
                    host,
                )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 1.0)

    async def close(self) -> None:
        """Stop serving, fail pending calls, close connections."""
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            # asyncio.wait, not wait_for: on Python 3.11 a wait_for() inside the reader can
            # swallow the cancellation, and wait_for would then wait for the reader for ever.
            # The reader also stops at its next turn once _reader is None.
            await asyncio.wait({reader}, timeout=_CLOSE_TIMEOUT)
        for task in list(self._handlers):
            task.cancel()
        for fut in self._pending.values():
            if not fut.done():
                fut.cancel()
        await close_client(self._sub_client, "bus subscription")
        if self._owns_client:
            await close_client(self._redis, "bus")


def _error_of(reply: dict[str, Any]) -> EzError:
    """The error a failed reply carries, of the same class and kind as on its host."""
    kind = reply.get("kind")
    kind = kind if kind in KINDS else "ShardingError"
    message = str(reply.get("message"))
    shard_id, reason = reply.get("shard_id"), reply.get("reason")
    if isinstance(shard_id, int) and isinstance(reason, str):
        return ShardCallError(kind, message, shard_id=shard_id, reason=reason)
    return EzError(kind, message)


def _failure(exc: EzError) -> dict[str, Any]:
    """A failed reply carrying ``exc``; read back by :func:`_error_of`."""
    out: dict[str, Any] = {"ok": False, "kind": exc.kind, "message": exc.message}
    if isinstance(exc, ShardCallError):  # the shard itself failed: the caller names it once
        out.update(shard_id=exc.shard_id, reason=exc.reason)
    return out


def _outcome(shard_id: int, o: Any, host: str) -> dict[str, Any]:
    """One shard's result of a batched request, as JSON-ready data."""
    if isinstance(o, EzError):
        return _failure(o)
    if isinstance(o, BaseException):
        return {"ok": False, "kind": "ShardingError", "message": f"host '{host}': {o!r}"}
    try:
        json.dumps(o)
    except (TypeError, ValueError) as exc:
        return {
            "ok": False,
            "kind": "ShardingError",
            "message": f"result of shard {shard_id} cannot be sent to another host: {exc}",
        }
    return {"ok": True, "result": o}


def _id_list(ids: list[int]) -> str:
    return ", ".join(str(i) for i in ids)
