"""A minimal gateway client written from Discord's documentation, not from discord.py.

It exposes what discord.py hides: every payload received, close codes, op 9, and the
ability to send anything (too-early IDENTIFYs, garbage, a second IDENTIFY, …).
https://discord.com/developers/docs/events/gateway
"""

from __future__ import annotations

import asyncio
import json
import zlib
from typing import Any

import aiohttp

try:
    import zstandard
except ImportError:  # pragma: no cover
    zstandard = None

ZLIB_SUFFIX = b"\x00\x00\xff\xff"


class RawGateway:
    """One gateway connection. ``await RawGateway.connect(url, compress=...)``."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        ws: aiohttp.ClientWebSocketResponse,
        compress: str | None,
    ) -> None:
        self.session = session
        self.ws = ws
        self.compress = compress
        self._zlib = zlib.decompressobj() if compress == "zlib-stream" else None
        self._zbuf = bytearray()
        self._zstd = (
            zstandard.ZstdDecompressor().decompressobj() if compress == "zstd-stream" else None
        )
        self.received: list[dict[str, Any]] = []
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.close_code: int | None = None
        self.closed = asyncio.Event()
        self.hello: dict[str, Any] | None = None
        self.seq: int | None = None
        self._reader = asyncio.create_task(self._read())
        self._heartbeater: asyncio.Task[None] | None = None

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        compress: str | None = None,
        version: str | None = "10",
        extra: dict[str, str] | None = None,
    ) -> RawGateway:
        query: dict[str, str] = {"encoding": "json"}
        if version is not None:
            query["v"] = version
        if compress:
            query["compress"] = compress
        query.update(extra or {})
        session = aiohttp.ClientSession()
        try:
            ws = await session.ws_connect(url, params=query, autoclose=False, max_msg_size=0)
        except BaseException:
            await session.close()
            raise
        self = cls(session, ws, compress)
        first = await self.next(timeout=5)
        assert first["op"] == 10, first
        self.hello = first["d"]
        return self

    def _decode(self, data: bytes | str) -> str | None:
        if isinstance(data, str):
            return data
        if self._zlib is not None:
            self._zbuf.extend(data)
            if not data.endswith(ZLIB_SUFFIX):
                return None
            out = self._zlib.decompress(bytes(self._zbuf))
            self._zbuf.clear()
            return out.decode()
        if self._zstd is not None:
            return self._zstd.decompress(data).decode()
        return data.decode()

    async def _read(self) -> None:
        try:
            while True:
                msg = await self.ws.receive()
                if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    text = self._decode(msg.data)
                    if text is None:
                        continue
                    payload = json.loads(text)
                    if payload.get("s") is not None:
                        self.seq = payload["s"]
                    self.received.append(payload)
                    self.queue.put_nowait(payload)
                elif msg.type == aiohttp.WSMsgType.CLOSE:
                    self.close_code = msg.data
                    await self.ws.close()
                    break
                else:
                    if self.close_code is None:
                        self.close_code = self.ws.close_code
                    break
        finally:
            self.closed.set()
            self.queue.put_nowait(None)

    async def next(
        self, timeout: float = 5.0, op: int | None = None, t: str | None = None
    ) -> dict[str, Any]:
        """The next payload (optionally the next with ``op``/``t``); raises on close or timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"no payload op={op} t={t} within {timeout}s")
            payload = await asyncio.wait_for(self.queue.get(), left)
            if payload is None:
                self.queue.put_nowait(None)
                raise ConnectionError(f"gateway closed with {self.close_code}")
            if (op is None or payload["op"] == op) and (t is None or payload.get("t") == t):
                return payload

    async def send(self, payload: Any) -> None:
        await self.ws.send_str(payload if isinstance(payload, str) else json.dumps(payload))

    async def heartbeat(self) -> dict[str, Any]:
        await self.send({"op": 1, "d": self.seq})
        return await self.next(op=11)

    def start_heartbeating(self) -> None:
        assert self.hello is not None
        interval = self.hello["heartbeat_interval"] / 1000

        async def beat() -> None:
            while not self.closed.is_set():
                try:
                    await self.send({"op": 1, "d": self.seq})
                except Exception:
                    return
                await asyncio.sleep(interval)

        self._heartbeater = asyncio.create_task(beat())

    async def identify(
        self, token: str, shard: list[int] | None = None, intents: int = 513, **extra: Any
    ) -> None:
        d: dict[str, Any] = {
            "token": token,
            "intents": intents,
            "properties": {"os": "linux", "browser": "rawclient", "device": "rawclient"},
        }
        if shard is not None:
            d["shard"] = shard
        d.update(extra)
        await self.send({"op": 2, "d": d})

    async def resume(self, token: str, session_id: str, seq: int | None) -> None:
        await self.send({"op": 6, "d": {"token": token, "session_id": session_id, "seq": seq}})

    async def wait_closed(self, timeout: float = 5.0) -> int | None:
        await asyncio.wait_for(self.closed.wait(), timeout)
        return self.close_code

    async def close(self, code: int = 1000) -> None:
        """Close with ``code`` (stop reading first, so aiohttp sends exactly this code)."""
        if self._heartbeater is not None:
            self._heartbeater.cancel()
        self._reader.cancel()
        try:
            await self._reader
        except asyncio.CancelledError:
            pass
        if not self.ws.closed:
            await self.ws.close(code=code)
        await self.session.close()

    def dispatches(self, t: str | None = None) -> list[dict[str, Any]]:
        return [p for p in self.received if p["op"] == 0 and (t is None or p["t"] == t)]
