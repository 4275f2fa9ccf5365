"""The manager <-> shard channel: length-prefixed JSON over an inherited socketpair.

Each frame is a 4-byte big-endian length followed by one UTF-8 JSON object. Three kinds of
message travel on it (field ``k``):

* request ``{"k": "q", "i": id, "op": op, "d": data}`` — answered by exactly one reply;
* reply ``{"k": "r", "i": id, "ok": true, "d": value}`` or
  ``{"k": "r", "i": id, "ok": false, "e": {"kind": kind, "message": text, "code"?: code}}``
  (``code`` only where the kind alone cannot say why, e.g. :data:`CANCELLED`);
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
#: The default largest payload (``d``) of one message, in bytes of JSON: the manager option
#: ``max_eval_bytes`` (both ends of a link get the same value; see :attr:`Channel.max_payload`).
DEFAULT_MAX_PAYLOAD = 16 * 1024 * 1024
#: Room for a frame's envelope (kind, id, op, an error message) beyond its payload. A reader
#: treats a frame larger than ``max_payload + FRAME_SLACK`` as a corrupt stream; a writer never
#: sends one, because it checks the payload first (:func:`too_large`) and cuts error messages.
FRAME_SLACK = 64 * 1024
#: Longest error message a failed reply carries (a message quoting a huge value is cut).
_MAX_ERROR_TEXT = 8 * 1024
#: Size of a channel's receive buffer; it grows only for a frame that does not fit.
_BUFFER = 64 * 1024

#: Answers a request: a value, or an awaitable of the value (``async def`` handlers work).
RequestHandler = Callable[[str, Any], Any]
EventHandler = Callable[[str, Any], None]
#: Gets a request's outcome, called from the reader: ``(True, value)`` or ``(False, error)``.
ReplyCallback = Callable[[bool, Any], None]


class ChannelClosed(ConnectionError):
    """The other end went away (process exit or manager death)."""


def _mib(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"


def too_large(what: str, size: int, limit: int, fix: str) -> EzError:
    """The ``ValueError`` for a payload of ``size`` bytes over ``limit`` (``max_eval_bytes``)."""
    return EzError(
        "ValueError",
        f"{what} is {_mib(size)} ({size} bytes of JSON), more than the limit of {_mib(limit)} "
        f"({limit} bytes, the shard manager option max_eval_bytes); {fix}",
    )


#: What to do about a result over the limit.
RESULT_FIX = "return less (counts or ids rather than whole objects) or raise max_eval_bytes"
#: What to do about a request (code, context, data) over the limit.
REQUEST_FIX = "send less (pass ids, not whole objects) or raise max_eval_bytes"


def _fallback(value: Any) -> Any:
    # EasyLang host objects and other Python values that JSON cannot carry travel as text.
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return str(value)


def _make_dumps() -> Callable[[Any], str]:
    # json.dumps with keyword arguments builds a new JSONEncoder per call, and even a kept
    # encoder builds a new C encoder per call; on the IPC hot path (several messages per
    # broadcast_eval and shard) that is most of the encoding time, so build the C encoder once.
    encoder = json.JSONEncoder(separators=(",", ":"), default=_fallback, check_circular=False)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator: the pure-Python encoder
        return encoder.encode
    c_encode = make(
        None, _fallback, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True
    )

    def dumps(value: Any) -> str:
        if isinstance(value, str):  # the C encoder wants a container or number at the top
            return json.encoder.encode_basestring_ascii(value)
        return "".join(c_encode(value, 0))

    return dumps


#: Compact JSON text of a value (what travels as ``d``); ``ValueError``/``TypeError`` if it
#: cannot be encoded.
dumps = _make_dumps()
_scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # the C scanner


def loads(text: str) -> Any:
    """One JSON value from ``text`` (all of it)."""
    try:
        value, end = _scan(text, 0)
    except StopIteration as exc:
        raise ValueError(f"invalid JSON at position {exc.value}") from None
    if end != len(text):
        raise ValueError(f"extra data after the JSON value at position {end}")
    return value


def encode(message: dict[str, Any]) -> bytes:
    """One frame: length prefix + compact JSON."""
    body = dumps(message).encode()
    return _HEADER.pack(len(body)) + body


def _frame(body: bytes) -> bytes:
    return _HEADER.pack(len(body)) + body


def request_frame(rid: int, op: str, data_json: str) -> bytes:
    """The frame of request ``rid``; ``data_json`` is the payload already encoded (a fan-out
    encodes it once for every shard)."""
    return _frame(
        b'{"k":"q","i":%d,"op":%s,"d":%s}' % (rid, dumps(op).encode(), data_json.encode())
    )


def reply_frame(rid: Any, value_json: str) -> bytes:
    """The frame of a successful reply whose value is already JSON text."""
    return _frame(b'{"k":"r","i":%s,"ok":true,"d":%s}' % (dumps(rid).encode(), value_json.encode()))


#: ``code`` of a failed reply to a call the answering side cancelled (it is shutting down).
CANCELLED = "cancelled"


class RemoteError(EzError):
    """An error from the other end of the channel; ``code`` (e.g. :data:`CANCELLED`) says why
    when the kind alone cannot — callers route on it, never on the message."""

    def __init__(self, kind: str, message: str, code: str | None = None) -> None:
        super().__init__(kind, message)
        self.code = code


def error_payload(exc: BaseException) -> dict[str, str]:
    """How an exception travels in a failed reply."""
    if isinstance(exc, EzError):
        return {"kind": exc.kind, "message": exc.message}
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return {"kind": "TimeoutError", "message": str(exc) or "timed out"}
    return {"kind": "ShardingError", "message": f"{type(exc).__name__}: {exc}"}


def error_from_payload(err: dict[str, Any]) -> RemoteError:
    """The inverse of :func:`error_payload` (plus the failed reply's ``code``, if any)."""
    kind = err.get("kind", "ShardingError")
    code = err.get("code")
    return RemoteError(
        kind if kind in KINDS else "ShardingError",
        str(err.get("message", "")),
        code if isinstance(code, str) else None,
    )


class LinkProtocol:
    """What a channel's protocol does whatever the wire format: hold the transport (paused
    until :meth:`Channel.start`), track the other end's backpressure (``can_write``) and end
    the channel when the link ends or cannot be trusted (:meth:`fail`). Mixed into
    :class:`_FrameProtocol` here and into the Node IPC line protocol of
    :mod:`ezlang.sharding.jsshard`."""

    channel: Channel
    transport: asyncio.Transport | None = None
    can_write: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.pause_reading()  # until Channel.start(): the handlers may not be set yet

    def fail(self, reason: str) -> None:
        """The stream is corrupt: the link cannot be trusted any more."""
        self.channel.close_reason = reason
        if self.transport is not None:
            self.transport.close()

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


class _FrameProtocol(LinkProtocol, asyncio.BufferedProtocol):
    """Cuts the byte stream into frames and hands each to its channel, inline.

    Frames are dispatched from ``buffer_updated`` itself — no reader task and no wake-up per
    frame — which keeps a round trip to a shard to one trip through each event loop. The
    socket is read straight into a kept buffer (``recv_into``): a plain ``Protocol`` makes
    asyncio ``recv(256 KiB)`` for every read, and allocating that much costs ~20 µs per
    message on a small VM — more than the rest of the message's handling.
    """

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.buffer = bytearray(_BUFFER)
        self.start = 0  # first byte not yet dispatched
        self.end = 0  # end of the bytes received

    def get_buffer(self, sizehint: int) -> memoryview:
        buf, start, end = self.buffer, self.start, self.end
        need = 4096
        if end - start >= 4:
            need = max(need, 4 + _HEADER.unpack_from(buf, start)[0] - (end - start))
        if len(buf) - end < need:
            # Move the partial frame to the front of a new buffer (a new object: asyncio may
            # still hold a view of the old one, which cannot be resized).
            size = max(_BUFFER, 2 * (end - start) + need)
            fresh = bytearray(size)
            fresh[: end - start] = buf[start:end]
            self.buffer, self.start, self.end = fresh, 0, end - start
            buf, end = fresh, end - start
        return memoryview(buf)[end:]

    def buffer_updated(self, nbytes: int) -> None:
        buf = self.buffer
        start = self.start
        end = self.end = self.end + nbytes
        channel = self.channel
        while end - start >= 4:
            size = _HEADER.unpack_from(buf, start)[0]
            stop = start + 4 + size
            if size > channel.max_payload + FRAME_SLACK:
                # The other end checks what it sends (see Channel._reply): only a broken or
                # foreign writer gets here, and the stream cannot be trusted any more.
                self._corrupt(f"IPC frame of {size} bytes is too large")
                return
            if stop > end:
                break
            try:
                message = loads(buf[start + 4 : stop].decode())
                if not isinstance(message, dict):
                    raise ValueError("a frame is not a JSON object")
            except ValueError as exc:  # UnicodeDecodeError included
                self._corrupt(f"IPC protocol error: {exc}")
                return
            start = self.start = stop
            try:
                channel._on_frame(message)
            except Exception as exc:  # a handler's bug must not cut the link
                asyncio.get_running_loop().call_exception_handler(
                    {"message": "error handling an IPC message", "exception": exc}
                )
        if start == end:
            self.start = self.end = 0
            if len(buf) > 4 * _BUFFER:  # a huge frame is done: give its memory back
                self.buffer = bytearray(_BUFFER)

    def _corrupt(self, reason: str) -> None:
        self.start = self.end = 0
        self.fail(reason)


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
        # Request id -> what gets its reply (called inline from the reader, then forgotten).
        self._pending: dict[int, ReplyCallback] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._protocol: _FrameProtocol | None = None
        self._transport: asyncio.Transport | None = None
        self.closed = asyncio.Event()
        self.close_reason = "channel closed"
        #: Largest payload sent or accepted, in bytes of JSON (``max_eval_bytes``): a request
        #: over it is refused with a ``ValueError`` before it is sent, a reply over it becomes
        #: a failed reply with that ``ValueError`` — never a frame the other end must refuse.
        self.max_payload = DEFAULT_MAX_PAYLOAD

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

    def _write_frame(self, frame: bytes) -> None:
        transport = self._transport
        if self.closed.is_set() or transport is None or transport.is_closing():
            raise ChannelClosed(self.close_reason)
        transport.write(frame)

    def _write(self, message: dict[str, Any]) -> None:
        self._write_frame(encode(message))

    def send_event(self, op: str, data: Any = None) -> None:
        """Send a fire-and-forget event; silently dropped if the channel is closed."""
        try:
            self._write({"k": "e", "op": op, "d": data})
        except (ChannelClosed, ConnectionError, RuntimeError):
            pass

    def send_request(self, op: str, data_json: str, on_reply: ReplyCallback) -> int:
        """Send a request whose payload is already JSON text; returns its id.

        The leanest way to ask: no future, no task, no timer. ``on_reply(ok, value)`` is called
        from the reader as soon as the reply arrives — ``(True, value)``, or ``(False, error)``
        with the remote ``EzError`` or ``ChannelClosed`` if the other end goes away first. The
        caller bounds the wait and calls :meth:`forget` for a reply it no longer wants.
        Raises ``ChannelClosed`` if the channel is already closed.
        """
        if len(data_json) > self.max_payload:
            raise too_large(f"the {op} request", len(data_json), self.max_payload, REQUEST_FIX)
        rid = next(self._ids)
        self._write_frame(request_frame(rid, op, data_json))
        self._pending[rid] = on_reply
        return rid

    def forget(self, rid: int) -> None:
        """Drop the pending request ``rid`` (its reply, if it still comes, is ignored)."""
        self._pending.pop(rid, None)

    async def request(self, op: str, data: Any = None, timeout: float | None = None) -> Any:
        """Send a request and wait for its reply.

        Raises ``EzError`` with the remote error, ``ChannelClosed`` if the other end goes away
        first and ``TimeoutError`` after ``timeout`` seconds.
        """
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        rid = self.send_request(op, dumps(data), lambda ok, value: _settle(fut, ok, value))
        try:
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
            on_reply = self._pending.pop(message.get("i"), None)  # type: ignore[arg-type]
            if on_reply is not None:
                if message.get("ok"):
                    on_reply(True, message.get("d"))
                else:
                    on_reply(False, error_from_payload(message.get("e") or {}))
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
        self._reply(rid, result)

    def _reply(self, rid: Any, value: Any) -> None:
        try:
            body = dumps(value)  # (ASCII: its length is its size in bytes)
        except Exception as exc:  # a value JSON cannot carry (or nested too deep)
            self._reply_error(rid, error_payload(exc))
            return
        if len(body) > self.max_payload:
            # Sent as it is, the frame would be refused by the other end's reader, which would
            # close the link (and the shard would exit): answer with what went wrong instead.
            limit = self.max_payload
            self._reply_error(
                rid, error_payload(too_large("the result", len(body), limit, RESULT_FIX))
            )
            return
        frame = reply_frame(rid, body)
        try:
            self._write_frame(frame)
        except (ChannelClosed, ConnectionError, RuntimeError):
            pass

    def _reply_error(self, rid: Any, payload: dict[str, str]) -> None:
        message = payload.get("message", "")
        if len(message) > _MAX_ERROR_TEXT:  # (a message quoting a huge value must still fit)
            payload = {**payload, "message": message[:_MAX_ERROR_TEXT] + "…"}
        try:
            self._write({"k": "r", "i": rid, "ok": False, "e": payload})
        except (ChannelClosed, ConnectionError, RuntimeError):
            pass

    async def _answer(self, rid: Any, pending: Awaitable[Any]) -> None:
        try:
            value = await pending
        except BaseException as exc:  # noqa: BLE001 - every failure travels back as a reply
            if isinstance(exc, asyncio.CancelledError):
                payload = {
                    "kind": "ShardingError",
                    "message": "the call was cancelled",
                    "code": CANCELLED,
                }
            else:
                payload = error_payload(exc)
            self._reply_error(rid, payload)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        self._reply(rid, value)

    def _finish(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        pending = list(self._pending.values())
        self._pending.clear()
        for on_reply in pending:
            on_reply(False, ChannelClosed(self.close_reason))
        if self._transport is not None:
            self._transport.close()

    async def close(self) -> None:
        """Close the link; pending requests fail with :class:`ChannelClosed`."""
        self._finish()
        for task in list(self._tasks):
            task.cancel()


def _settle(fut: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if fut.done():
        return
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)
