"""The messages the sandbox remembers, and the message traffic of users and bots.

``MessageStore`` keeps each channel's recent history (users' and bots' messages: what
``GET /channels/{id}/messages`` lists) and, apart, what bots posted (what tests wait for),
both capped per channel. Its operations dispatch the matching gateway events: a user
posting or reacting, a bot's message recorded, edited or deleted. ``Sandbox`` offers them
under the same names.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from .errors import SandboxError, as_snowflake
from .gateway import INTENT_GUILD_MESSAGE_REACTIONS, INTENT_GUILD_MESSAGES
from .log import quote, shard_text
from .world import dumps

if TYPE_CHECKING:
    from .core import Sandbox

# How many messages per channel the sandbox remembers: of all messages (injected and posted
# by bots), and of the bots' own.
CHANNEL_HISTORY = 1000


class MessageStore:
    """Every channel's remembered messages, and the operations that post, change and remove
    them (each dispatching its gateway event)."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        #: Each channel's recent messages (injected and bot), oldest first.
        self.history: dict[int, deque[dict[str, Any]]] = {}
        self._bot_messages: dict[int, deque[dict[str, Any]]] = {}
        # The bot messages each channel holds, counting those older than the cap (posted
        # minus deleted): what wait_for_bot_messages compares with, so a wait for more
        # messages than the cap keeps still ends.
        self._bot_held: dict[int, int] = {}
        self._bot_message_event = asyncio.Event()

    def _remember(self, channel_id: int, msg: dict[str, Any], bot: bool = False) -> None:
        for boxes in (self.history, self._bot_messages) if bot else (self.history,):
            box = boxes.get(channel_id)
            if box is None:
                box = boxes[channel_id] = deque(maxlen=CHANNEL_HISTORY)
            box.append(msg)
        if bot:
            self._bot_held[channel_id] = self._bot_held.get(channel_id, 0) + 1
            self._bot_message_event.set()

    def forget(self, channel_id: int, msg: dict[str, Any]) -> None:
        """Remove a remembered message (found with :meth:`find_message`), without an event:
        the caller dispatches MESSAGE_DELETE or MESSAGE_DELETE_BULK."""
        box = self.history.get(channel_id)
        if box is not None and msg in box:
            box.remove(msg)
        bot_box = self._bot_messages.get(channel_id)
        if bot_box and msg in bot_box:
            bot_box.remove(msg)
            self._bot_held[channel_id] -= 1

    def channel_messages(self, channel_id: int) -> list[dict[str, Any]]:
        """Every remembered message of a channel (injected and bot), oldest first."""
        return list(self.history.get(channel_id, ()))

    def find_message(self, channel_id: int, message_id: str) -> dict[str, Any] | None:
        """A remembered message by id, or None."""
        for m in self.history.get(channel_id, ()):
            if m["id"] == message_id:
                return m
        return None

    async def inject_message(
        self, channel_id: int | str, content: str, author_id: int | str | None = None
    ) -> dict[str, Any]:
        """A user posts ``content`` in a channel: MESSAGE_CREATE goes to the owning shard(s).

        Returns ``{id, guild_id, shard, shards, delivered}``; ``delivered`` is False when
        no shard was connected (the event then waits in the replay buffer of any
        resumable session).
        """
        cid = as_snowflake(channel_id, "channel_id")
        world = self.sb.world
        if not world.is_text_channel(cid):
            raise SandboxError(f"unknown text channel {channel_id}")
        ref = world.channel(cid)
        assert ref is not None
        if author_id is None:
            uid = world.member_ids(ref.guild_index)[0]
        else:
            uid = as_snowflake(author_id, "author_id")
        author = world.user(uid)
        if author is None:
            raise SandboxError(f"unknown user {author_id}")
        if not isinstance(content, str):
            raise SandboxError("content must be a string")
        refused = self.sb.server.may_post(ref.guild_id, uid, cid)
        if refused is not None:  # e.g. timed out: Discord refuses the member's message
            raise SandboxError(refused)
        mid = self.sb.gateway.next_snowflake()
        payload = self.sb.gateway.message_payload(mid, cid, ref.guild_id, content, author)
        self._remember(cid, payload)
        sessions = self.sb.gateway.sessions_for_guild(ref.guild_id)
        _, delivered = self.sb.gateway.dispatch_guild_message(payload)
        shards = sorted({s.shard for s in sessions}, key=lambda s: (s[1], s[0]))
        if self.sb.log.enabled:
            self.sb.log.line(
                f"message in: {author['username']} in channel {cid} (guild {ref.guild_id}, "
                f"{self._where(ref.guild_id)}): {quote(content)}"
            )
        if shards:
            shard = shards[-1][0]
        else:
            shard = world.shard_of(ref.guild_id, world.recommended_shards())
        return {
            "id": str(mid),
            "guild_id": str(ref.guild_id),
            "shard": shard,
            "shards": [list(s) for s in shards],
            "delivered": delivered,
        }

    def add_reaction(
        self,
        channel_id: int | str,
        message_id: int | str,
        emoji: str,
        user_id: int | str | None = None,
    ) -> dict[str, Any]:
        """A user (or the bot, for ``PUT .../reactions/{emoji}/@me``) reacts to a message:
        MESSAGE_REACTION_ADD goes to the shard(s) of the guild whose intents include
        GUILD_MESSAGE_REACTIONS. Returns ``{delivered, sessions}``."""
        cid = as_snowflake(channel_id, "channel_id")
        ref = self.sb.world.channel(cid)
        if ref is None or not self.sb.world.is_text_channel(cid):
            raise SandboxError(f"unknown text channel {channel_id}")
        message = self.find_message(cid, str(message_id))
        if message is None:
            raise SandboxError(f"unknown message {message_id} in channel {channel_id}")
        if user_id is None:
            uid = self.sb.world.member_ids(ref.guild_index)[0]
        else:
            uid = as_snowflake(user_id, "user_id")
        user = self.sb.world.user(uid)
        if user is None:
            raise SandboxError(f"unknown user {user_id}")
        if not isinstance(emoji, str) or not emoji:
            raise SandboxError("emoji must be a non-empty string")
        if uid != self.sb.world.bot_id:  # the bot's own reactions are checked by the REST route
            refused = self.sb.server.may_post(ref.guild_id, uid, cid, react=True)
            if refused is not None:
                raise SandboxError(refused)
        name, eid = emoji, None
        if ":" in emoji:  # a custom emoji: "name:id" as in the REST path, or "<:name:id>"
            parts = [p for p in emoji.strip("<>").split(":") if p]
            name, eid = parts[-2] if len(parts) >= 2 else parts[0], parts[-1]
        self.sb.reactions.append(
            {"channel_id": str(cid), "message_id": str(message_id), "emoji": emoji,
             "user_id": str(uid)}
        )  # fmt: skip
        payload: dict[str, Any] = {
            "user_id": str(uid),
            "channel_id": str(cid),
            "message_id": str(message_id),
            "guild_id": str(ref.guild_id),
            "emoji": {"id": eid, "name": name},
            "burst": False,
            "type": 0,
            "message_author_id": message["author"]["id"],
        }
        member = self.sb.world.member(ref.guild_index, uid)
        if member is not None:
            payload["member"] = member
        if self.sb.log.enabled:
            who = "the bot" if uid == self.sb.world.bot_id else user["username"]
            self.sb.log.line(
                f"reaction: {who} added {emoji} to message {message_id} in channel {cid} "
                f"({self._where(ref.guild_id)})"
            )
        return self.sb.gateway.dispatch_guild_event(
            ref.guild_id, "MESSAGE_REACTION_ADD", payload, INTENT_GUILD_MESSAGE_REACTIONS
        )

    def record_bot_message(
        self, channel_id: int, body: dict[str, Any], overrides: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Record a message the bot POSTed; returns the message object (and dispatches it).

        ``overrides``: fields set on the message before it is dispatched (an interaction
        response's ``type``, ``webhook_id``, ``interaction_metadata``, ``flags``)."""
        ref = self.sb.world.channel(channel_id)
        assert ref is not None
        mid = self.sb.gateway.next_snowflake()
        msg = self.sb.gateway.message_payload(
            mid, channel_id, ref.guild_id, body.get("content") or "", self.sb.world.bot_user()
        )
        msg["embeds"] = body.get("embeds") or []
        msg["tts"] = bool(body.get("tts", False))
        msg["components"] = body.get("components") or []
        if body.get("nonce") is not None:
            msg["nonce"] = body["nonce"]
        files = body.get("_files") or []
        msg["attachments"] = [
            {
                "id": str(self.sb.gateway.next_snowflake()),
                "filename": f["filename"],
                "size": f["size"],
                "url": f"{self.sb.api_url}/attachments/{f['filename']}",
                "proxy_url": f"{self.sb.api_url}/attachments/{f['filename']}",
            }
            for f in files
        ]
        ref_msg = body.get("message_reference")
        if isinstance(ref_msg, dict) and ref_msg.get("message_id"):
            msg["type"] = 19
            msg["message_reference"] = {
                "message_id": str(ref_msg["message_id"]),
                "channel_id": str(channel_id),
                "guild_id": str(ref.guild_id),
            }
            msg["referenced_message"] = self.find_message(channel_id, str(ref_msg["message_id"]))
        if overrides:
            msg.update(overrides)
            if msg["author"]["id"] != str(self.sb.world.bot_id):
                msg.pop("member", None)  # a webhook's message has an author but no member
        self._remember(channel_id, msg, bot=True)
        self.sb.gateway.dispatch_guild_message(msg)
        if self.sb.log.enabled:
            extra = ""
            if msg.get("message_reference"):
                extra += f" replying to {msg['message_reference']['message_id']}"
            if msg["embeds"]:
                extra += f" with {len(msg['embeds'])} embed(s)"
            bot = msg["author"]["id"] == str(self.sb.world.bot_id)
            who = "the bot" if bot else f"webhook {msg['author']['username']!r}"
            self.sb.log.line(
                f"message out: {who} in channel {channel_id} (guild {ref.guild_id}){extra}: "
                f"{quote(msg['content'])}"
            )
        return msg

    def _where(self, guild_id: int) -> str:
        """Which shard(s) an event of ``guild_id`` goes to, for the activity log."""
        shards = sorted({s.shard for s in self.sb.gateway.sessions_for_guild(guild_id)})
        if not shards:
            return "no shard connected: it waits for a resume"
        return "→ " + ", ".join(shard_text(shard) for shard in shards)

    def edit_bot_message(
        self, channel_id: int, message_id: str, body: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Apply a PATCH to a bot message; dispatches MESSAGE_UPDATE."""
        msg = self.find_message(channel_id, message_id)
        if msg is None or msg["author"]["id"] != str(self.sb.world.bot_id):
            return None
        if "content" in body:
            msg["content"] = body["content"] or ""
        if "embeds" in body:
            msg["embeds"] = body["embeds"] or []
        if "components" in body:
            msg["components"] = body["components"] or []
        msg["edited_timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime())
        if self.sb.log.enabled:
            self.sb.log.line(
                f"message edited: the bot's {message_id} in channel {channel_id}: "
                f"{quote(msg['content'])}"
            )
        for s in self.sb.gateway.sessions_for_guild(int(msg["guild_id"])):
            if s.intents & INTENT_GUILD_MESSAGES:
                s.push("MESSAGE_UPDATE", dumps(msg))
        return msg

    def delete_message(self, channel_id: int, message_id: str) -> bool:
        """Delete a remembered message; dispatches MESSAGE_DELETE."""
        msg = self.find_message(channel_id, message_id)
        if msg is None:
            return False
        self.forget(channel_id, msg)
        data = dumps({"id": message_id, "channel_id": str(channel_id), "guild_id": msg["guild_id"]})
        self.sb.log.line(f"message deleted: {message_id} in channel {channel_id}")
        for s in self.sb.gateway.sessions_for_guild(int(msg["guild_id"])):
            if s.intents & INTENT_GUILD_MESSAGES:
                s.push("MESSAGE_DELETE", data)
        return True

    def bot_messages(self, channel_id: int | str) -> list[dict[str, Any]]:
        """Messages bots posted in a channel (the latest ``CHANNEL_HISTORY``), oldest first."""
        return list(self._bot_messages.get(as_snowflake(channel_id, "channel_id"), ()))

    def all_bot_messages(self) -> list[dict[str, Any]]:
        """Every message bots posted, in posting order."""
        msgs = [m for box in self._bot_messages.values() for m in box]
        return sorted(msgs, key=lambda m: int(m["id"]))

    async def wait_for_bot_messages(
        self, channel_id: int | str, count: int = 1, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Wait until a channel holds at least ``count`` bot messages (posted and not deleted,
        counting those older than the ``CHANNEL_HISTORY`` kept); returns the kept ones.

        Raises ``TimeoutError`` (with what arrived so far) after ``timeout`` seconds.
        """
        cid = as_snowflake(channel_id, "channel_id")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._bot_held.get(cid, 0) < count:
            left = deadline - loop.time()
            if left <= 0:
                got = [m["content"] for m in self._bot_messages.get(cid, ())]
                raise TimeoutError(
                    f"expected {count} bot message(s) in channel {cid} within {timeout}s, got {got}"
                )
            self._bot_message_event.clear()
            try:
                await asyncio.wait_for(self._bot_message_event.wait(), left)
            except TimeoutError:
                pass
        return self.bot_messages(cid)
