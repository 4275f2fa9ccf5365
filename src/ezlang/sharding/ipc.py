"""The manager <-> shard channel: length-prefixed JSON over an inherited socketpair.

Each frame is a 4-byte big-endian length followed by one UTF-8 JSON object. Three kinds of
message travel on it (field ``k``):

* request ``{"k": "q", "i": id, "op": op, "d": data}`` — answered by exactly one reply;
* reply ``{"k": "r", "i": id, "ok": true, "d": value}`` or
  ``{"k": "r", "i": id, "ok": false, "e": {"kind": kind, "message": text}}``;
* event ``{"k": "e", "op": op, "d": data}`` — fire and forget (heartbeats, status, logs).

Both ends use the same :class:`Channel`. A socketpair inherited by the child (never a named
socket) means only the two processes can talk, and the child sees end-of-file the moment the
manager dies, which is how orphaned shards know to exit.

Operations (``op``), manager -> shard: ``eval`` ``{code}``, ``fetch`` ``{path}``, ``stats``,
``shutdown``. Shard -> manager: ``hello`` (returns the shard's configuration, token included,
so the token never sits in argv or the environment), ``identify`` ``{initial}`` (returns when
the identify queue grants a slot), ``route`` ``{op, args}`` (a cross-shard call made inside a
shard); events ``hb``, ``status`` ``{status, ...}``, ``exit_reason`` ``{close_code, error,
fatal}``.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from ezlang.lang.errors import KINDS, EzError

_HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024

#: Answers a request: a value, or an awaitable of the value (``async def`` handlers work).
RequestHandler = Callable[[str, Any], Any]
EventHandler = Callable[[str, Any], None]


class ChannelClosed(ConnectionError):
    """The other end went away (process exit or manager death)."""


def encode(message: dict[str, Any]) -> bytes:
    """One frame: length prefix + compact JSON."""
    body = json.dumps(message, separators=(",", ":"), default=_fallback).encode()
    return _HEADER.pack(len(body)) + body


def _fallback(value: Any) -> Any:
    # EasyLang host objects and other Python values that JSON cannot carry travel as text.
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return str(value)


def error_payload(exc: BaseException) -> dict[str, str]:
    """How an exception travels in a failed reply."""
    if isinstance(exc, EzError):
        return {"kind": exc.kind, "message": exc.message}
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return {"kind": "TimeoutError", "message": str(exc) or "timed out"}
    return {"kind": "ShardingError", "message": f"{type(exc).__name__}: {exc}"}


def error_from_payload(err: dict[str, Any]) -> EzError:
    """The inverse of :func:`error_payload`."""
    kind = err.get("kind", "ShardingError")
    return EzError(kind if kind in KINDS else "ShardingError", str(err.get("message", "")))


class _FrameProtocol(asyncio.Protocol):
    """Cuts the byte stream into frames and hands each to its channel, inline.

    Frames are dispatched from ``data_received`` itself — no reader task and no wake-up per
    frame — which keeps a round trip to a shard to one trip through each event loop.
    """

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.can_write: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.pause_reading()  # until Channel.start(): the handlers may not be set yet

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        start = 0
        end = len(buf)
        try:
            while end - start >= 4:
                size = int.from_bytes(buf[start : start + 4], "big")
                if size > MAX_FRAME:
                    raise ValueError(f"IPC frame of {size} bytes is too large")
                if end - start - 4 < size:
                    break
                body = bytes(buf[start + 4 : start + 4 + size])
                start += 4 + size
                self.channel._on_frame(json.loads(body))
        except Exception as exc:  # a corrupt frame: the link cannot be trusted any more
            self.channel.close_reason = f"IPC protocol error: {exc}"
            del buf[:]
            if self.transport is not None:
                self.transport.close()
            return
        del buf[:start]

    def eof_received(self) -> bool:
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self.channel.close_reason == "channel closed":
            self.channel.close_reason = "the other end closed the channel"
        self.channel._finish()
        if self.can_write is not None and not self.can_write.done():
            self.can_write.set_result(None)

    def pause_writing(self) -> None:
        self.can_write = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.can_write is not None and not self.can_write.done():
            self.can_write.set_result(None)
        self.can_write = None


class Channel:
    """One end of the IPC link: requests with replies, and events, in both directions."""

    def __init__(
        self,
        on_request: RequestHandler | None = None,
        on_event: EventHandler | None = None,
    ) -> None:
        self._on_request = on_request
        self._on_event = on_event
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._protocol: _FrameProtocol | None = None
        self._transport: asyncio.Transport | None = None
        self.closed = asyncio.Event()
        self.close_reason = "channel closed"

    @classmethod
    async def from_socket(
        cls,
        sock: Any,
        on_request: RequestHandler | None = None,
        on_event: EventHandler | None = None,
    ) -> Channel:
        """Wrap a connected (unix) socket; call :meth:`start` to begin reading."""
        channel = cls(on_request, on_event)
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_unix_connection(
            lambda: _FrameProtocol(channel), sock=sock
        )
        channel._transport = transport
        channel._protocol = protocol
        return channel

    def start(self) -> None:
        """Start reading (call once the handlers are set)."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()

    @property
    def is_closed(self) -> bool:
        return self.closed.is_set()

    def _write(self, message: dict[str, Any]) -> None:
        transport = self._transport
        if self.closed.is_set() or transport is None or transport.is_closing():
            raise ChannelClosed(self.close_reason)
        transport.write(encode(message))

    def send_event(self, op: str, data: Any = None) -> None:
        """Send a fire-and-forget event; silently dropped if the channel is closed."""
        try:
            self._write({"k": "e", "op": op, "d": data})
        except (ChannelClosed, ConnectionError, RuntimeError):
            pass

    def start_request(self, op: str, data: Any = None) -> asyncio.Future[Any]:
        """Send a request now and return the future of its reply (no task, no timeout).

        For fanning one request out to many shards; the caller bounds the wait. The future
        fails with ``EzError`` (remote error) or ``ChannelClosed``.
        """
        rid = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._write({"k": "q", "i": rid, "op": op, "d": data})
        self._pending[rid] = fut
        fut.add_done_callback(lambda _f: self._pending.pop(rid, None))
        return fut

    async def request(self, op: str, data: Any = None, timeout: float | None = None) -> Any:
        """Send a request and wait for its reply.

        Raises ``EzError`` with the remote error, ``ChannelClosed`` if the other end goes away
        first and ``TimeoutError`` after ``timeout`` seconds.
        """
        rid = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            self._write({"k": "q", "i": rid, "op": op, "d": data})
            protocol = self._protocol
            if protocol is not None and protocol.can_write is not None:
                await protocol.can_write  # the other end is slow to read: back off
            if timeout is None:
                return await fut
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._pending.pop(rid, None)

    def _on_frame(self, message: dict[str, Any]) -> None:
        kind = message.get("k")
        if kind == "r":
            fut = self._pending.get(message.get("i"))  # type: ignore[arg-type]
            if fut is not None and not fut.done():
                if message.get("ok"):
                    fut.set_result(message.get("d"))
                else:
                    fut.set_exception(error_from_payload(message.get("e") or {}))
        elif kind == "q":
            self._dispatch_request(message.get("i"), message.get("op"), message.get("d"))
        elif kind == "e" and self._on_event is not None:
            self._on_event(message.get("op", ""), message.get("d"))

    def _dispatch_request(self, rid: Any, op: Any, data: Any) -> None:
        # A handler may answer at once (a plain value: replied inline, no task — the common
        # case for stats, fetch and most evals) or return an awaitable (awaited in a task).
        try:
            if self._on_request is None:
                raise EzError("ShardingError", f"no handler for request {op!r}")
            result = self._on_request(str(op), data)
        except Exception as exc:
            self._reply_error(rid, error_payload(exc))
            return
        if inspect.isawaitable(result):
            task = asyncio.get_running_loop().create_task(self._answer(rid, result))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        try:
            self._write({"k": "r", "i": rid, "ok": True, "d": result})
        except (ChannelClosed, ConnectionError, RuntimeError):
            pass
        except (TypeError, ValueError) as exc:  # a value JSON cannot carry
            self._reply_error(rid, error_payload(exc))

    def _reply_error(self, rid: Any, payload: dict[str, str]) -> None:
        try:
            self._write({"k": "r", "i": rid, "ok": False, "e": payload})
        except (ChannelClosed, ConnectionError, RuntimeError):
            pass

    async def _answer(self, rid: Any, pending: Awaitable[Any]) -> None:
        try:
            value = await pending
        except BaseException as exc:  # noqa: BLE001 - every failure travels back as a reply
            if isinstance(exc, asyncio.CancelledError):
                payload = {"kind": "ShardingError", "message": "the call was cancelled"}
            else:
                payload = error_payload(exc)
            try:
                self._write({"k": "r", "i": rid, "ok": False, "e": payload})
            except (ChannelClosed, ConnectionError, RuntimeError):
                pass
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        try:
            self._write({"k": "r", "i": rid, "ok": True, "d": value})
        except (ChannelClosed, ConnectionError, RuntimeError):
            pass

    def _finish(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ChannelClosed(self.close_reason))
        self._pending.clear()
        if self._transport is not None:
            self._transport.close()

    async def close(self) -> None:
        """Close the link; pending requests fail with :class:`ChannelClosed`."""
        self._finish()
        for task in list(self._tasks):
            task.cancel()
