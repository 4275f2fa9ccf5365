"""The channel model: channels created, edited and deleted, and threads, over the seed world.

A guild whose channels nobody changed costs nothing: the world derives them from the seed.
The first change stores the guild's whole channel list (seed channels included), and from
then on this model answers for that guild (``World.channel_overlay``): ``GET …/channels``,
``GET /channels/{id}``, GUILD_CREATE and the routing of messages all see the change.
Permission overwrites stay where the server model keeps them (``GuildState.overwrites``),
so the permission arithmetic has one home.

Threads are channels too, but their ids are ordinary snowflakes (a thread started from a
message has the message's id, as on Discord), so they do not name their guild: the model
keeps a table of them. In a thread the parent channel's permissions apply.

Every change dispatches Discord's gateway event to the guild's shard(s) through
``ServerModel.emit`` (sessions with the event's intent only): CHANNEL_CREATE/UPDATE/DELETE,
THREAD_CREATE/UPDATE/DELETE and THREAD_MEMBER_UPDATE (GUILDS), THREAD_MEMBERS_UPDATE (GUILDS
when it is about the bot itself, else GUILD_MEMBERS).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .guild_state import INTENT_GUILD_MEMBERS, INTENT_GUILDS
from .world import ChannelRef

if TYPE_CHECKING:
    from .core import Sandbox

#: Discord's channel types a bot may create in a guild, by number.
GUILD_CHANNEL_TYPES = {0: "text", 2: "voice", 4: "category", 5: "announcement", 13: "stage"}
TEXT, VOICE, CATEGORY, ANNOUNCEMENT = 0, 2, 4, 5
ANNOUNCEMENT_THREAD, PUBLIC_THREAD, PRIVATE_THREAD = 10, 11, 12
THREAD_TYPES = frozenset((ANNOUNCEMENT_THREAD, PUBLIC_THREAD, PRIVATE_THREAD))
ARCHIVE_DURATIONS = (60, 1440, 4320, 10080)
# Low bits of the channels the model creates: above every seed channel and role (< 64), so
# a created channel's id still names its guild, as the seed's do.
_FIRST_LOW = 256


def now_iso() -> str:
    """The current time as Discord writes it."""
    t = time.time()
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
        + f".{int(t * 1e6) % 1_000_000:06d}+00:00"
    )


@dataclass
class Thread:
    """A thread: Discord's channel fields plus ``thread_metadata`` and its members."""

    id: int
    guild_id: int
    parent_id: int
    owner_id: int
    type: int
    name: str
    auto_archive_duration: int = 1440
    invitable: bool = True
    rate_limit_per_user: int = 0
    archived: bool = False
    locked: bool = False
    created: str = field(default_factory=now_iso)
    archive_timestamp: str = ""
    #: User id → join timestamp, in join order.
    members: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.archive_timestamp:
            self.archive_timestamp = self.created

    def member_json(self, user_id: int) -> dict[str, Any]:
        """Discord's thread member object."""
        return {
            "id": str(self.id),
            "user_id": str(user_id),
            "join_timestamp": self.members[user_id],
            "flags": 0,
        }

    def to_json(
        self, me: int | None = None, history: Sequence[dict[str, Any]] = ()
    ) -> dict[str, Any]:
        """Discord's channel object of a thread (with ``member`` when ``me`` is a member;
        ``history``: its messages, oldest first, for the counts and ``last_message_id``)."""
        meta: dict[str, Any] = {
            "archived": self.archived,
            "auto_archive_duration": self.auto_archive_duration,
            "archive_timestamp": self.archive_timestamp,
            "locked": self.locked,
            "create_timestamp": self.created,
        }
        if self.type == PRIVATE_THREAD:
            meta["invitable"] = self.invitable
        out: dict[str, Any] = {
            "id": str(self.id),
            "guild_id": str(self.guild_id),
            "parent_id": str(self.parent_id),
            "owner_id": str(self.owner_id),
            "type": self.type,
            "name": self.name,
            "last_message_id": history[-1]["id"] if history else None,
            "rate_limit_per_user": self.rate_limit_per_user,
            "flags": 0,
            "message_count": len(history),
            "total_message_sent": len(history),
            "member_count": min(len(self.members), 50),  # Discord stops counting at 50
            "thread_metadata": meta,
        }
        if me is not None and me in self.members:
            out["member"] = self.member_json(me)
        return out


class ChannelModel:
    """Changed guilds' channel lists and every thread; the world asks it first."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self.world = sandbox.world
        #: Guild id → channel id → channel object (without overwrites: the server model's).
        self.guilds: dict[int, dict[int, dict[str, Any]]] = {}
        self.threads: dict[int, Thread] = {}
        self._next_low: dict[int, int] = {}
        self.world.channel_overlay = self
        # ``GET {control}/guilds/{id}/state`` gets "channels" and "threads" from here.
        sandbox.server.state_sections["channels"] = self.channels_of_guild
        sandbox.server.state_sections["threads"] = self.threads_of_guild

    # ---- what the world asks (ChannelOverlay) --------------------------------------------

    def channel_ref(self, channel_id: int) -> ChannelRef | Literal[False] | None:
        """Where a channel lives; False for one deleted; None when the seed decides."""
        thread = self.threads.get(channel_id)
        if thread is not None:
            index = self.world.guild_index(thread.guild_id)
            assert index is not None
            return ChannelRef(channel_id, thread.guild_id, index)
        if not self.guilds:
            return None
        gid = channel_id >> 22 << 22
        box = self.guilds.get(gid)
        if box is None:
            return None
        if channel_id not in box:
            return False
        index = self.world.guild_index(gid)
        assert index is not None
        return ChannelRef(channel_id, gid, index)

    def channel_type(self, channel_id: int) -> int | None:
        """The channel's type (-1: deleted), or None when the seed decides."""
        thread = self.threads.get(channel_id)
        if thread is not None:
            return thread.type
        if not self.guilds:
            return None
        box = self.guilds.get(channel_id >> 22 << 22)
        if box is None:
            return None
        channel = box.get(channel_id)
        return -1 if channel is None else int(channel["type"])

    def channels(self, index: int) -> list[dict[str, Any]] | None:
        """The guild's channels (copies), or None when the seed decides."""
        box = self.guilds.get(self.world.guild_id(index))
        return None if box is None else [dict(c) for c in box.values()]

    def thread_object(self, channel_id: int) -> dict[str, Any] | None:
        """A thread's channel object (``member`` for the bot if it joined), or None."""
        thread = self.threads.get(channel_id)
        return None if thread is None else self.json(thread)

    def active_thread_objects(self, index: int) -> list[dict[str, Any]]:
        """The active threads of a guild the bot can see (GUILD_CREATE's ``threads``)."""
        gid = self.world.guild_id(index)
        return [
            self.json(t)
            for t in self.threads.values()
            if t.guild_id == gid and not t.archived and self.bot_sees(t)
        ]

    def permission_channel(self, channel_id: int) -> int:
        """A thread's parent (its permissions apply in the thread), else the channel."""
        thread = self.threads.get(channel_id)
        return channel_id if thread is None else thread.parent_id

    # ---- reading -----------------------------------------------------------------------

    def json(self, thread: Thread, *, with_me: bool = True) -> dict[str, Any]:
        """A thread's channel object: its counts from the messages the sandbox remembers, and
        (``with_me``) the bot's thread member, as Discord shows the bot its own."""
        me = self.world.bot_id if with_me else None
        return thread.to_json(me, self.sb.channel_messages(thread.id))

    def bot_sees(self, thread: Thread) -> bool:
        """Discord's rule: a public thread is seen by whoever sees its parent; a private one
        only by its members and those with Manage Threads."""
        server = self.sb.server
        if not server.bot_may(thread.parent_id, "view_channel"):
            return False
        if thread.type != PRIVATE_THREAD or self.world.bot_id in thread.members:
            return True
        return server.bot_may(thread.parent_id, "manage_threads")

    def channel_json(self, channel_id: int) -> dict[str, Any]:
        """The full channel object (with its overwrites) of a guild channel."""
        channel = self.world.channel_object(channel_id)
        assert channel is not None
        return channel

    def guild_threads(self, guild_id: int) -> list[Thread]:
        """Every thread of a guild, oldest first."""
        return [t for t in self.threads.values() if t.guild_id == guild_id]

    # ---- channels ----------------------------------------------------------------------

    def _box(self, guild_id: int) -> dict[int, dict[str, Any]]:
        """The stored channel list of a guild, created from the seed on first change."""
        box = self.guilds.get(guild_id)
        if box is None:
            index = self.world.guild_index(guild_id)
            if index is None:
                raise KeyError(guild_id)
            self.sb.server.edit(guild_id)  # GUILD_CREATE is rendered from the models now
            box = {
                int(c["id"]): dict(c, permission_overwrites=[]) for c in self.world.channels(index)
            }
            self.guilds[guild_id] = box
        return box

    def _overwrite_box(self, channel_id: int) -> dict[int, dict[str, Any]]:
        state = self.sb.server.edit(channel_id >> 22 << 22)
        return state.overwrites.setdefault(channel_id, {})

    def set_overwrites(self, channel_id: int, overwrites: list[dict[str, Any]]) -> None:
        """Replace a channel's overwrites (in the server model, where permissions read them)."""
        box = self._overwrite_box(channel_id)
        box.clear()
        for o in overwrites:
            box[int(o["id"])] = {
                "id": str(o["id"]),
                "type": int(o.get("type", 0)),
                "allow": str(int(o.get("allow") or 0)),
                "deny": str(int(o.get("deny") or 0)),
            }

    def overwrites_of(self, channel_id: int) -> list[dict[str, Any]]:
        """A channel's overwrites as stored (a category's, for syncing a new child)."""
        state = self.sb.server.view(channel_id >> 22 << 22)
        if state is None:
            return []
        return [dict(o) for o in state.overwrites.get(channel_id, {}).values()]

    def create_channel(
        self, guild_id: int, fields: dict[str, Any], overwrites: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """Add a channel (``fields``: type, name, parent_id, topic, …): CHANNEL_CREATE."""
        box = self._box(guild_id)
        low = self._next_low.get(guild_id, _FIRST_LOW)
        self._next_low[guild_id] = low + 1
        cid = guild_id | low
        kind = int(fields["type"])
        siblings = [
            c["position"] for c in box.values() if (c["type"] == CATEGORY) == (kind == CATEGORY)
        ]
        channel: dict[str, Any] = {
            "id": str(cid),
            "type": kind,
            "name": fields["name"],
            "position": fields.get("position", max(siblings, default=-1) + 1),
            "guild_id": str(guild_id),
            "permission_overwrites": [],
            "flags": 0,
        }
        if kind != CATEGORY:
            channel["parent_id"] = fields.get("parent_id")
            channel["nsfw"] = bool(fields.get("nsfw", False))
        if kind in (TEXT, ANNOUNCEMENT):
            channel.update(
                topic=fields.get("topic"),
                last_message_id=None,
                rate_limit_per_user=int(fields.get("rate_limit_per_user") or 0),
            )
        if kind in (VOICE, 13):
            channel.update(
                bitrate=int(fields.get("bitrate") or 64000),
                user_limit=int(fields.get("user_limit") or 0),
                rtc_region=fields.get("rtc_region"),
            )
        box[cid] = channel
        self.set_overwrites(cid, overwrites)
        data = self.channel_json(cid)
        self.sb.server.emit(guild_id, "CHANNEL_CREATE", data, INTENT_GUILDS)
        self._log(f"channel created: #{channel['name']} ({cid}) in guild {guild_id}")
        return data

    def edit_channel(
        self, channel_id: int, fields: dict[str, Any], overwrites: list[dict[str, Any]] | None
    ) -> dict[str, Any]:
        """Change a guild channel's fields (and overwrites if given): CHANNEL_UPDATE."""
        gid = channel_id >> 22 << 22
        channel = self._box(gid)[channel_id]
        channel.update(fields)
        if overwrites is not None:
            self.set_overwrites(channel_id, overwrites)
        data = self.channel_json(channel_id)
        self.sb.server.emit(gid, "CHANNEL_UPDATE", data, INTENT_GUILDS)
        self._log(f"channel updated: #{channel['name']} ({channel_id})")
        return data

    def delete_channel(self, channel_id: int) -> dict[str, Any]:
        """Delete a guild channel: CHANNEL_DELETE. A category's children lose their parent
        (CHANNEL_UPDATE each); the channel's threads go with it."""
        gid = channel_id >> 22 << 22
        data = self.channel_json(channel_id)
        box = self._box(gid)
        del box[channel_id]
        state = self.sb.server.edit(gid)
        state.overwrites.pop(channel_id, None)
        for tid in [t.id for t in self.threads.values() if t.parent_id == channel_id]:
            del self.threads[tid]  # Discord sends no THREAD_DELETE: clients drop them
        self.sb.server.voice.drop_channel(state, channel_id)  # its users are disconnected
        self.sb.server.emit(gid, "CHANNEL_DELETE", data, INTENT_GUILDS)
        for cid, child in box.items():
            if child.get("parent_id") == str(channel_id):
                child["parent_id"] = None
                self.sb.server.emit(gid, "CHANNEL_UPDATE", self.channel_json(cid), INTENT_GUILDS)
        self._log(f"channel deleted: #{data['name']} ({channel_id})")
        return data

    # ---- threads -----------------------------------------------------------------------

    def create_thread(
        self,
        parent_id: int,
        name: str,
        kind: int,
        owner_id: int,
        *,
        thread_id: int | None = None,
        auto_archive_duration: int = 1440,
        invitable: bool = True,
        rate_limit_per_user: int = 0,
    ) -> Thread:
        """Start a thread (its creator is its first member): THREAD_CREATE
        (``newly_created``), then THREAD_MEMBERS_UPDATE for the creator."""
        gid = parent_id >> 22 << 22
        self._box(gid)  # the guild's GUILD_CREATE now carries its threads
        tid = self.sb.gateway.next_snowflake() if thread_id is None else thread_id
        thread = Thread(
            id=tid,
            guild_id=gid,
            parent_id=parent_id,
            owner_id=owner_id,
            type=kind,
            name=name,
            auto_archive_duration=auto_archive_duration,
            invitable=invitable,
            rate_limit_per_user=rate_limit_per_user,
        )
        thread.members[owner_id] = thread.created
        self.threads[tid] = thread
        if self.bot_sees(thread):
            data = dict(self.json(thread), newly_created=True)
            self.sb.server.emit(gid, "THREAD_CREATE", data, INTENT_GUILDS)
        self._members_update(thread, added=[owner_id])
        self._log(f"thread created: {name!r} ({tid}) in channel {parent_id}")
        return thread

    def update_thread(self, thread: Thread, fields: dict[str, Any]) -> dict[str, Any]:
        """Change a thread (name, archived, locked, auto_archive_duration, invitable,
        rate_limit_per_user): THREAD_UPDATE; unarchiving also sends THREAD_MEMBER_UPDATE."""
        was_archived = thread.archived
        for key, value in fields.items():
            setattr(thread, key, value)
        if "archived" in fields or "auto_archive_duration" in fields:
            thread.archive_timestamp = now_iso()  # Discord moves it on both
        if self.bot_sees(thread):
            data = self.json(thread)
            self.sb.server.emit(thread.guild_id, "THREAD_UPDATE", data, INTENT_GUILDS)
            me = self.world.bot_id
            if was_archived and not thread.archived and me in thread.members:
                member = dict(thread.member_json(me), guild_id=str(thread.guild_id))
                self.sb.server.emit(thread.guild_id, "THREAD_MEMBER_UPDATE", member, INTENT_GUILDS)
        self._log(f"thread updated: {thread.name!r} ({thread.id}) {fields}")
        return self.json(thread)

    def delete_thread(self, thread: Thread) -> None:
        """Delete a thread: THREAD_DELETE ``{id, guild_id, parent_id, type}``."""
        visible = self.bot_sees(thread)
        del self.threads[thread.id]
        if visible:
            data = {
                "id": str(thread.id),
                "guild_id": str(thread.guild_id),
                "parent_id": str(thread.parent_id),
                "type": thread.type,
            }
            self.sb.server.emit(thread.guild_id, "THREAD_DELETE", data, INTENT_GUILDS)
        self._log(f"thread deleted: {thread.name!r} ({thread.id})")

    def add_member(self, thread: Thread, user_id: int) -> bool:
        """Add a thread member: THREAD_MEMBERS_UPDATE (and THREAD_CREATE when it is the bot,
        as Discord sends on a join). False if already a member."""
        if user_id in thread.members:
            return False
        thread.members[user_id] = now_iso()
        if user_id == self.world.bot_id and self.bot_sees(thread):
            data = self.json(thread)
            self.sb.server.emit(thread.guild_id, "THREAD_CREATE", data, INTENT_GUILDS)
        self._members_update(thread, added=[user_id])
        return True

    def remove_member(self, thread: Thread, user_id: int) -> bool:
        """Remove a thread member: THREAD_MEMBERS_UPDATE. False if not a member."""
        if thread.members.pop(user_id, None) is None:
            return False
        self._members_update(thread, removed=[user_id])
        return True

    def _members_update(
        self,
        thread: Thread,
        added: Sequence[int] = (),
        removed: Sequence[int] = (),
    ) -> None:
        # About the bot itself it goes with GUILDS; about others only with GUILD_MEMBERS.
        me = self.world.bot_id
        about_me = me in added or me in removed
        if not (about_me or self.bot_sees(thread)):
            return
        index = self.world.guild_index(thread.guild_id)
        assert index is not None
        added_json = []
        for uid in added:
            entry = thread.member_json(uid)
            member = self.world.member(index, uid)
            if member is not None:
                entry["member"] = member
            added_json.append(entry)
        data: dict[str, Any] = {
            "id": str(thread.id),
            "guild_id": str(thread.guild_id),
            "member_count": min(len(thread.members), 50),
        }
        if added_json:
            data["added_members"] = added_json
        if removed:
            data["removed_member_ids"] = [str(u) for u in removed]
        intent = INTENT_GUILDS | INTENT_GUILD_MEMBERS if about_me else INTENT_GUILD_MEMBERS
        self.sb.server.emit(thread.guild_id, "THREAD_MEMBERS_UPDATE", data, intent)

    # ---- control API -------------------------------------------------------------------

    def channels_of_guild(self, guild_id: int) -> list[dict[str, Any]]:
        """``channels`` of ``GET {control}/guilds/{id}/state``: every channel, overwrites too."""
        index = self.world.guild_index(guild_id)
        return [] if index is None else self.world.channels(index)

    def threads_of_guild(self, guild_id: int) -> list[dict[str, Any]]:
        """``threads`` of the state document: every thread (archived too), with its
        ``member_ids``."""
        out = []
        for t in self.guild_threads(guild_id):
            item = self.json(t, with_me=False)
            item["member_ids"] = [str(u) for u in t.members]
            out.append(item)
        return out

    def _log(self, text: str) -> None:
        if self.sb.log.enabled:
            self.sb.log.line(text)


_MODELS: weakref.WeakKeyDictionary[Any, ChannelModel] = weakref.WeakKeyDictionary()


def channel_model(sb: Sandbox) -> ChannelModel:
    """The channel model of ``sb`` (created, and hooked into its world, on first use)."""
    model = _MODELS.get(sb)
    if model is None:
        model = _MODELS[sb] = ChannelModel(sb)
    return model
