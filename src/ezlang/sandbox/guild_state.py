"""The server model: a per-guild overlay of roles, members and bans on the seed world.

A guild nobody changed costs nothing: reads build a throwaway :class:`GuildState` from
the world (a handful of roles and members), and only the first change stores one. From
then on that guild's GUILD_CREATE is rendered from the stored state (``World.guild_override``).
Each change returns the gateway event it causes; :class:`ServerModel` dispatches it to
the shard that holds the guild, only to sessions with the event's intent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import permissions as perms
from .audit_log import AuditLog
from .guild_voice import VoiceStates
from .world import BOT_ROLE_LOW, MEMBER_ROLE_LOW, dumps

if TYPE_CHECKING:
    from .core import Sandbox

INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_MODERATION = 1 << 2

_JOINED_AT = "2024-01-01T00:00:00.000000+00:00"
_DISCORD_EPOCH_MS = 1_420_070_400_000


@dataclass
class Role:
    """A guild role (the fields Discord's role object carries)."""

    id: int
    name: str
    position: int
    permissions: int
    color: int = 0
    hoist: bool = False
    managed: bool = False
    mentionable: bool = False
    tags: dict[str, Any] | None = None
    icon: str | None = None
    unicode_emoji: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Discord's role object."""
        out: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "color": self.color,
            "hoist": self.hoist,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": self.mentionable,
            "icon": self.icon,
            "unicode_emoji": self.unicode_emoji,
            "flags": 0,
        }
        if self.tags is not None:
            out["tags"] = self.tags
        return out


@dataclass
class Member:
    """A guild member: user id, role ids (without @everyone), nick, timeout."""

    user_id: int
    roles: list[int] = field(default_factory=list)
    nick: str | None = None
    communication_disabled_until: str | None = None
    joined_at: str = _JOINED_AT

    def timed_out(self, now: float | None = None) -> bool:
        """True while ``communication_disabled_until`` is in the future."""
        until = self.communication_disabled_until
        if until is None:
            return False
        return datetime.fromisoformat(until).timestamp() > (time.time() if now is None else now)


@dataclass
class GuildState:
    """Roles, members and bans of one guild."""

    guild_id: int
    index: int
    owner_id: int
    roles: dict[int, Role]
    members: dict[int, Member]
    bans: dict[int, str | None] = field(default_factory=dict)
    #: Channel id -> overwrite id -> Discord overwrite object (``{id, type, allow, deny}``).
    overwrites: dict[int, dict[int, dict[str, Any]]] = field(default_factory=dict)
    #: Guild features (``ROLE_ICONS`` lets roles have icons; the owner boosts through the
    #: control API).
    features: list[str] = field(default_factory=list)
    #: Who is in voice: user id -> voice state as GUILD_CREATE carries it (guild_voice.py).
    voice: dict[int, dict[str, Any]] = field(default_factory=dict)

    # ---- permissions and hierarchy ---------------------------------------------------

    def top_position(self, user_id: int) -> int:
        """Position of the member's highest role (0: only @everyone)."""
        member = self.members.get(user_id)
        if member is None:
            return 0
        return max((self.roles[r].position for r in member.roles if r in self.roles), default=0)

    def permissions_of(self, user_id: int) -> int:
        """Guild-wide permissions of a member (0 for a non-member)."""
        member = self.members.get(user_id)
        if member is None:
            return 0
        return perms.base_permissions(
            is_owner=user_id == self.owner_id,
            everyone=self.roles[self.guild_id].permissions,
            role_permissions=(self.roles[r].permissions for r in member.roles if r in self.roles),
            timed_out=member.timed_out(),
        )

    def channel_permissions_of(self, user_id: int, channel_id: int) -> int:
        """Permissions of a member in a channel: guild-wide, then the channel's overwrites."""
        member = self.members.get(user_id)
        if member is None:
            return 0
        return perms.channel_permissions(
            self.permissions_of(user_id),
            guild_id=self.guild_id,
            member_id=user_id,
            member_roles=member.roles,
            overwrites=self.overwrites.get(channel_id, {}).values(),
            timed_out=member.timed_out(),
        )

    def has(self, user_id: int, permission: str) -> bool:
        """True if the member has ``permission`` (ADMINISTRATOR and owner count)."""
        return bool(self.permissions_of(user_id) & perms.FLAGS[permission])

    def above_member(self, actor: int, target: int) -> bool:
        """Discord's rule: the actor's highest role is strictly above the target's, and the
        target is not the owner (the owner is above everyone)."""
        if target == self.owner_id:
            return False
        if actor == self.owner_id:
            return True
        return self.top_position(actor) > self.top_position(target)

    def above_role(self, actor: int, role_id: int) -> bool:
        """The actor may manage this role: it is strictly below the actor's highest role."""
        if actor == self.owner_id:
            return True
        return self.roles[role_id].position < self.top_position(actor)

    # ---- JSON ------------------------------------------------------------------------

    def member_json(self, world_user: dict[str, Any], member: Member) -> dict[str, Any]:
        """Discord's guild member object."""
        return {
            "user": world_user,
            "roles": [str(r) for r in member.roles],
            "nick": member.nick,
            "avatar": None,
            "joined_at": member.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": member.communication_disabled_until,
        }

    def sorted_roles(self) -> list[Role]:
        """Roles by position, then id (Discord's order)."""
        return sorted(self.roles.values(), key=lambda r: (r.position, r.id))


class ServerModel:
    """Every guild's overlay, created on the first change; reads never store anything."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self.world = sandbox.world
        self.changed: dict[int, GuildState] = {}
        self.world.guild_override = self._guild_json
        self.world.member_override = self._member
        self.world.member_ids_override = self._member_ids
        self.world.overwrites_override = self._overwrites
        self._seed_bot_permissions: int | None = None
        #: More sections of ``state_json`` by name (``webhooks``, ``invites``): other
        #: modules' state of a guild, as ``guild_id -> JSON``.
        self.state_sections: dict[str, Callable[[int], Any]] = {}
        #: What the bot did, per guild (``GET /guilds/{id}/audit-logs``).
        self.audit = AuditLog(sandbox.gateway.next_snowflake)
        #: Who is in voice (``POST {control}/voice``), per guild.
        self.voice = VoiceStates(self)

    # ---- reading and creating --------------------------------------------------------

    def view(self, guild_id: int) -> GuildState | None:
        """The guild's state (stored or freshly derived, not stored), or None if unknown."""
        state = self.changed.get(guild_id)
        if state is not None:
            return state
        index = self.world.guild_index(guild_id)
        return None if index is None else self._derive(index)

    def edit(self, guild_id: int) -> GuildState:
        """The guild's stored state, created from the world on first use (for a change)."""
        state = self.changed.get(guild_id)
        if state is None:
            index = self.world.guild_index(guild_id)
            if index is None:
                raise KeyError(guild_id)
            state = self.changed[guild_id] = self._derive(index)
            self.world.changed_indices.add(index)
        return state

    def _derive(self, index: int) -> GuildState:
        world = self.world
        gid = world.guild_id(index)
        roles: dict[int, Role] = {}
        for r in world.roles(index):
            roles[int(r["id"])] = Role(
                id=int(r["id"]),
                name=r["name"],
                position=r["position"],
                permissions=int(r["permissions"]),
                color=r["color"],
                hoist=r["hoist"],
                managed=r["managed"],
                mentionable=r["mentionable"],
                tags=r.get("tags"),
            )
        members: dict[int, Member] = {}
        member_role = gid | MEMBER_ROLE_LOW
        members[world.bot_id] = Member(world.bot_id, [gid | BOT_ROLE_LOW])
        for uid in world.member_ids(index):
            members[uid] = Member(uid, [member_role])
        return GuildState(gid, index, world.member_ids(index)[0], roles, members)

    def _member(self, index: int, user_id: int) -> dict[str, Any] | None:
        state = self.changed[self.world.guild_id(index)]
        return self.member_json(state, user_id)

    def _member_ids(self, index: int) -> list[int]:
        return list(self.changed[self.world.guild_id(index)].members)

    def bot_permissions(self, guild_id: int) -> int:
        """The bot's guild-wide permissions (a constant for every unchanged guild, so the
        message routes pay one dict lookup)."""
        state = self.changed.get(guild_id)
        if state is not None:
            return state.permissions_of(self.world.bot_id)
        if self._seed_bot_permissions is None:
            index = self.world.guild_index(guild_id)
            assert index is not None
            self._seed_bot_permissions = self._derive(index).permissions_of(self.world.bot_id)
        return self._seed_bot_permissions

    def bot_may(self, channel_id: int, *permission: str) -> bool:
        """True if the bot holds every named permission in the channel (guild-wide
        permissions, then the channel's overwrites; in a thread, its parent's)."""
        channel_id = self.world.permission_channel(channel_id)
        state = self.changed.get(channel_id >> 22 << 22)
        if state is None:
            bits = self.bot_permissions(channel_id >> 22 << 22)
        else:
            bits = state.channel_permissions_of(self.world.bot_id, channel_id)
        return all(bits & perms.FLAGS[p] for p in permission)

    def _overwrites(self, channel_id: int) -> list[dict[str, Any]]:
        state = self.changed.get(channel_id >> 22 << 22)
        if state is None:
            return []
        return list(state.overwrites.get(channel_id, {}).values())

    def set_overwrite(self, channel_id: int, overwrite: dict[str, Any] | None, oid: int) -> bool:
        """Store (or with None delete) a channel's overwrite: CHANNEL_UPDATE (GUILDS).
        False when deleting one that does not exist."""
        gid = channel_id >> 22 << 22
        state = self.edit(gid)
        box = state.overwrites.setdefault(channel_id, {})
        if overwrite is None:
            if box.pop(oid, None) is None:
                return False
        else:
            box[oid] = overwrite
        channel = self.world.channel_object(channel_id)
        assert channel is not None
        self.emit(gid, "CHANNEL_UPDATE", channel, INTENT_GUILDS)
        return True

    def _guild_json(self, index: int, voice: bool) -> str | None:
        # ``voice``: the session asked for GUILD_VOICE_STATES (Discord sends the guild's
        # voice states only then).
        state = self.changed.get(self.world.guild_id(index))
        if state is None:
            return None
        guild = self.world.guild(index)
        guild["roles"] = [r.to_json() for r in state.sorted_roles()]
        guild["members"] = self.members_json(state)
        guild["member_count"] = len(state.members)
        guild["features"] = list(state.features)
        if voice:
            guild["voice_states"] = self.voice.of_guild(state)
        return dumps(guild)

    def members_json(self, state: GuildState) -> list[dict[str, Any]]:
        """Every member object of the guild."""
        out = []
        for m in state.members.values():
            user = self.world.user(m.user_id)
            if user is not None:
                out.append(state.member_json(user, m))
        return out

    def member_json(self, state: GuildState, user_id: int) -> dict[str, Any] | None:
        """One member object, or None."""
        member = state.members.get(user_id)
        user = self.world.user(user_id)
        if member is None or user is None:
            return None
        return state.member_json(user, member)

    def bot_role_id(self, guild_id: int) -> int:
        """Id of the bot's managed role."""
        return guild_id | BOT_ROLE_LOW

    # ---- events ----------------------------------------------------------------------

    def emit(self, guild_id: int, event: str, payload: dict[str, Any], intent: int) -> None:
        """Send a gateway event to the guild's shard(s), to sessions with ``intent``."""
        self.sb.gateway.dispatch_guild_event(guild_id, event, payload, intent)
        if self.sb.log.enabled:
            self.sb.log.line(f"server: {event} in guild {guild_id}")

    def member_update(self, state: GuildState, user_id: int) -> None:
        """Dispatch GUILD_MEMBER_UPDATE for a member (GUILD_MEMBERS intent)."""
        data = self.member_json(state, user_id)
        assert data is not None
        data["guild_id"] = str(state.guild_id)
        self.emit(state.guild_id, "GUILD_MEMBER_UPDATE", data, INTENT_GUILD_MEMBERS)

    def role_event(self, state: GuildState, event: str, role: Role) -> None:
        """GUILD_ROLE_CREATE/UPDATE (GUILDS intent)."""
        data = {"guild_id": str(state.guild_id), "role": role.to_json()}
        self.emit(state.guild_id, event, data, INTENT_GUILDS)

    # ---- changes (shared by REST and the control API) ----------------------------------

    def add_member(self, guild_id: int, user_id: int) -> dict[str, Any]:
        """A user joins: GUILD_MEMBER_ADD. Raises ValueError if banned or already there."""
        state = self.edit(guild_id)
        if user_id in state.bans:
            raise ValueError(f"user {user_id} is banned from guild {guild_id}")
        if user_id in state.members:
            raise ValueError(f"user {user_id} is already a member of guild {guild_id}")
        joined = time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime())
        state.members[user_id] = Member(user_id, joined_at=joined)
        data = self.member_json(state, user_id)
        assert data is not None
        data["guild_id"] = str(guild_id)
        self.emit(guild_id, "GUILD_MEMBER_ADD", data, INTENT_GUILD_MEMBERS)
        return data

    def remove_member(self, guild_id: int, user_id: int) -> bool:
        """A member leaves or is kicked: GUILD_MEMBER_REMOVE. False if not a member."""
        state = self.edit(guild_id)
        if state.members.pop(user_id, None) is None:
            return False
        self.voice.drop_member(state, user_id)
        user = self.world.user(user_id)
        self.emit(
            guild_id,
            "GUILD_MEMBER_REMOVE",
            {"guild_id": str(guild_id), "user": user},
            INTENT_GUILD_MEMBERS,
        )
        return True

    def ban(self, guild_id: int, user_id: int, reason: str | None, delete_seconds: int = 0) -> bool:
        """Ban a user (member or not): GUILD_BAN_ADD, then GUILD_MEMBER_REMOVE if a member;
        the user's messages of the last ``delete_seconds`` in the guild are deleted
        (MESSAGE_DELETE each). False if the user was already banned (nothing happens)."""
        state = self.edit(guild_id)
        if user_id in state.bans:
            return False  # Discord answers 204 again and sends nothing new
        state.bans[user_id] = reason
        user = self.world.user(user_id)
        self.emit(
            guild_id,
            "GUILD_BAN_ADD",
            {"guild_id": str(guild_id), "user": user},
            INTENT_GUILD_MODERATION,
        )
        self.remove_member(guild_id, user_id)
        if delete_seconds > 0:
            self._delete_messages_of(guild_id, user_id, time.time() - delete_seconds)
        return True

    def _delete_messages_of(self, guild_id: int, user_id: int, since: float) -> None:
        author = str(user_id)
        # Channel ids share the guild's timestamp slot (``channel_id >> 22 << 22``).
        boxes = self.sb._messages  # noqa: SLF001 - the sandbox's own message store
        for cid in [c for c in boxes if c >> 22 << 22 == guild_id]:
            doomed = [
                m["id"]
                for m in boxes[cid]
                if m["author"]["id"] == author
                and ((int(m["id"]) >> 22) + _DISCORD_EPOCH_MS) / 1000 >= since
            ]
            for mid in doomed:
                self.sb.delete_message(cid, mid)

    def unban(self, guild_id: int, user_id: int) -> bool:
        """Lift a ban: GUILD_BAN_REMOVE. False if there was none."""
        state = self.edit(guild_id)
        if user_id not in state.bans:
            return False
        del state.bans[user_id]
        self.emit(
            guild_id,
            "GUILD_BAN_REMOVE",
            {"guild_id": str(guild_id), "user": self.world.user(user_id)},
            INTENT_GUILD_MODERATION,
        )
        return True

    def set_bot_permissions(self, guild_id: int, bits: int) -> Role:
        """Set what the bot's managed role may do: GUILD_ROLE_UPDATE."""
        state = self.edit(guild_id)
        role = state.roles[self.bot_role_id(guild_id)]
        role.permissions = bits
        self.role_event(state, "GUILD_ROLE_UPDATE", role)
        return role

    def move_role(self, guild_id: int, role_id: int, position: int) -> Role:
        """Give a role a new position (not @everyone): GUILD_ROLE_UPDATE. KeyError if unknown."""
        state = self.edit(guild_id)
        if role_id == guild_id or role_id not in state.roles:
            raise KeyError(role_id)
        role = state.roles[role_id]
        role.position = position
        self.role_event(state, "GUILD_ROLE_UPDATE", role)
        return role

    def reorder_roles(self, guild_id: int, moves: list[tuple[int, int]]) -> list[Role]:
        """Move roles to new positions (``[(role_id, position)]``, as the bot's
        ``PATCH /guilds/{id}/roles`` or the owner dragging them): the others shift to make
        room and positions are renumbered 1..n above @everyone, as Discord keeps them.
        GUILD_ROLE_UPDATE for every role whose position changed; returns those roles."""
        state = self.edit(guild_id)
        order = [r for r in state.sorted_roles() if r.id != guild_id]
        before = {r.id: r.position for r in order}
        for rid, position in sorted(moves, key=lambda m: m[1]):
            role = state.roles[rid]
            order.remove(role)
            order.insert(max(0, min(position - 1, len(order))), role)
        changed = []
        for n, role in enumerate(order, start=1):
            role.position = n
            if before[role.id] != n:
                changed.append(role)
        for role in changed:
            self.role_event(state, "GUILD_ROLE_UPDATE", role)
        return changed

    def set_features(self, guild_id: int, features: list[str]) -> None:
        """Set the guild's features (the owner boosting: ``ROLE_ICONS``): GUILD_UPDATE."""
        state = self.edit(guild_id)
        state.features = list(dict.fromkeys(features))
        self._guild_update(state)

    def update_guild(self, guild_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        """Change the guild's own fields (``name``, ``description``, ``icon``, ...: checked by
        the caller), as the bot's ``PATCH /guilds/{id}`` or the owner: GUILD_UPDATE. Every
        view of the guild (GET, GUILD_CREATE, the control state) shows them from now on."""
        state = self.edit(guild_id)
        self.world.guild_fields.setdefault(state.index, {}).update(fields)
        return self._guild_update(state)

    def _guild_update(self, state: GuildState) -> dict[str, Any]:
        guild = self.guild_object(state)
        self.emit(state.guild_id, "GUILD_UPDATE", guild, INTENT_GUILDS)
        return guild

    def guild_object(self, state: GuildState) -> dict[str, Any]:
        """The guild as GUILD_UPDATE and ``GET /guilds/{id}`` carry it: without the lists
        only GUILD_CREATE sends."""
        guild = self.world.guild(state.index)
        for key in ("channels", "members", "presences", "voice_states", "threads"):
            guild.pop(key, None)
        guild["roles"] = [r.to_json() for r in state.sorted_roles()]
        guild["features"] = list(state.features)
        return guild

    def may_post(
        self, guild_id: int, user_id: int, channel_id: int, *, react: bool = False
    ) -> str | None:
        """Why a member may not post (or, with ``react``, react) in a channel — timed out,
        or lacking the permission there — or None. Only a changed guild can refuse: the seed
        gives every member these permissions. (Joining an existing reaction needs no Add
        Reactions, so reacting asks only View Channel and Read Message History.)"""
        state = self.changed.get(guild_id)
        if state is None or user_id not in state.members:
            return None
        doing = "react" if react else "send messages"
        member = state.members[user_id]
        if member.timed_out():
            return (
                f"user {user_id} is timed out in guild {guild_id} until "
                f"{member.communication_disabled_until}: Discord does not let them {doing}"
            )
        needed = ("view_channel", "read_message_history" if react else "send_messages")
        bits = state.channel_permissions_of(user_id, channel_id)
        if not all(bits & perms.FLAGS[p] for p in needed):
            names = " and ".join(p.replace("_", " ").title() for p in needed)
            return f"user {user_id} may not {doing} in channel {channel_id} ({names} are needed)"
        return None

    def state_json(self, guild_id: int) -> dict[str, Any] | None:
        """What ``GET {control}/guilds/{id}/state`` returns."""
        state = self.view(guild_id)
        if state is None:
            return None
        return {
            "guild_id": str(guild_id),
            "owner_id": str(state.owner_id),
            "name": self.world.guild_name(state.index),
            "description": self.world.guild_fields.get(state.index, {}).get("description"),
            "changed": guild_id in self.changed,
            "features": list(state.features),
            "roles": [r.to_json() for r in state.sorted_roles()],
            "members": [
                {
                    "user_id": str(m.user_id),
                    "roles": [str(r) for r in m.roles],
                    "nick": m.nick,
                    "communication_disabled_until": m.communication_disabled_until,
                    "permissions": perms.names(state.permissions_of(m.user_id)),
                }
                for m in state.members.values()
            ],
            "bans": [{"user_id": str(u), "reason": r} for u, r in state.bans.items()],
            "voice_states": self.voice.of_guild(state),
            "overwrites": {
                str(c): list(box.values()) for c, box in state.overwrites.items() if box
            },
            **{name: section(guild_id) for name, section in self.state_sections.items()},
        }
