"""The signed envelope every cross-host bus message travels in: :class:`BusSigner`.

A bus request runs EasyLang code in a shard (``broadcast_eval``) or stops one (``respawn``), so
being able to ``PUBLISH`` on the bot's Redis channels must not be enough to do that. Every
message is sealed with HMAC-SHA256 under a key derived from the bot token — every host of the
bot already has the token, and nothing else needs to be shared::

    key      = HMAC-SHA256(token, "ezlang-bus-v1")
    envelope = {"v": 1, "ts": <unix seconds>, "nonce": <random hex>, "body": <JSON text>,
                "mac": hex(HMAC-SHA256(key, "ezlang-bus-v1" \\n channel \\n ts \\n nonce \\n body))}

The channel is part of the MAC, so a message cannot be moved to another channel (a reply
replayed as a request). :meth:`BusSigner.open` refuses an envelope that is malformed, unsigned,
badly signed, older (or newer) than ``max_age`` seconds, or whose nonce it has already seen
within that window. Host clocks must therefore agree within ``max_age`` (NTP does that).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections import OrderedDict
from typing import Any

__all__ = ["BusSigner", "RejectedMessage"]

_LABEL = b"ezlang-bus-v1"
_VERSION = 1


class RejectedMessage(Exception):
    """A bus message that must not be acted on; ``reason`` is one short phrase for the log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BusSigner:
    """Seals and opens bus messages for one bot (see the module docstring).

    ``max_age`` is the replay window in seconds; ``max_nonces`` bounds the memory of seen nonces.
    When that memory is full the oldest nonce is forgotten and every message not newer than it
    is refused from then on, so a forgotten nonce can never be replayed.
    """

    def __init__(self, secret: str | bytes, *, max_age: float = 30.0, max_nonces: int = 100_000):
        if not secret:
            raise ValueError("the bus secret (the bot token) must not be empty")
        raw = secret.encode() if isinstance(secret, str) else secret
        self._key = hmac.new(raw, _LABEL, hashlib.sha256).digest()
        self.max_age = max_age
        self.max_nonces = max_nonces
        # nonce -> timestamp, oldest first (timestamps of one sender rise; others interleave).
        self._seen: OrderedDict[str, float] = OrderedDict()
        # Messages with a timestamp at or below this were forgotten from _seen: refuse them.
        self._floor = 0.0

    def _mac(self, channel: str, ts: str, nonce: str, body: str) -> str:
        text = b"\n".join([_LABEL, channel.encode(), ts.encode(), nonce.encode(), body.encode()])
        return hmac.new(self._key, text, hashlib.sha256).hexdigest()

    def seal(self, channel: str, message: dict[str, Any]) -> str:
        """``message`` as the signed JSON text to publish on ``channel``."""
        body = json.dumps(message)
        ts = repr(time.time())
        nonce = secrets.token_hex(12)
        mac = self._mac(channel, ts, nonce, body)
        return json.dumps({"v": _VERSION, "ts": ts, "nonce": nonce, "body": body, "mac": mac})

    def open(self, channel: str, data: str | bytes) -> dict[str, Any]:
        """The message inside ``data`` received on ``channel``; raises :class:`RejectedMessage`."""
        try:
            env = json.loads(data)
        except ValueError:
            raise RejectedMessage("not JSON") from None
        if not isinstance(env, dict) or "mac" not in env:
            raise RejectedMessage("unsigned")
        parts = [env.get(k) for k in ("ts", "nonce", "body", "mac")]
        if env.get("v") != _VERSION or not all(isinstance(x, str) for x in parts):
            raise RejectedMessage("malformed signature envelope")
        ts, nonce, body, mac = (str(x) for x in parts)
        if not hmac.compare_digest(self._mac(channel, ts, nonce, body), mac):
            raise RejectedMessage("bad signature")
        try:
            sent = float(ts)
        except ValueError:
            raise RejectedMessage("malformed timestamp") from None
        now = time.time()
        self._forget(now)
        if not now - self.max_age <= sent <= now + self.max_age:
            raise RejectedMessage(
                f"stale (sent {now - sent:+.0f} s from now, window ±{self.max_age:g} s)"
            )
        if nonce in self._seen or sent <= self._floor:
            raise RejectedMessage("replayed")
        self._seen[nonce] = sent
        if len(self._seen) > self.max_nonces:
            _, oldest = self._seen.popitem(last=False)
            self._floor = max(self._floor, oldest)
        try:
            message = json.loads(body)
        except ValueError:
            raise RejectedMessage("signed body is not JSON") from None
        if not isinstance(message, dict):
            raise RejectedMessage("signed body is not an object")
        return message

    def _forget(self, now: float) -> None:
        """Drop nonces older than the window: their messages are refused as stale anyway."""
        horizon = now - self.max_age
        while self._seen:
            nonce, sent = next(iter(self._seen.items()))
            if sent >= horizon:
                break
            del self._seen[nonce]
