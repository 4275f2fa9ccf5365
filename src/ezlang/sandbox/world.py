"""The sandbox world: guilds, channels, roles, users and the bot, derived from a seed.

Nothing here is stored per guild up front: every object is a pure function of
``(seed, index)``, so a world of 100,000 guilds costs nothing to build, and the
JSON of a guild (what GUILD_CREATE carries) is rendered on demand and kept in a
bounded cache.

Id layout (Discord snowflakes: ``timestamp << 22 | low bits``):

- guild ``i`` has timestamp bits ``GUILD_EPOCH + i`` and low bits 0, so
  ``(guild_id >> 22) % shard_count`` is ``(GUILD_EPOCH + i) % shard_count``: for any
  shard count, consecutive guilds land on consecutive shards and the world spreads
  evenly (shard sizes differ by at most one).
- channels and roles of a guild share its timestamp bits with small non-zero low
  bits, so ``channel_id >> 22 << 22`` is the owning guild id: no lookup table.
- users live in a separate timestamp range.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

# Discord epoch milliseconds of 2019-01-01 and 2016-01-01: plausible snowflakes that
# also keep guilds and users in disjoint id ranges.
GUILD_EPOCH = 94_694_400_000
USER_EPOCH = 31_536_000_000
BOT_TIMESTAMP = 20_000_000_000

TEXT_CHANNELS_PER_GUILD = 2
ROLES_PER_GUILD = 3  # plus @everyone, whose id is the guild id (as on Discord)
MEMBERS_PER_GUILD = 5  # plus the bot itself
# Low-bit offsets inside a guild's timestamp slot.
_CATEGORY_LOW = 1
_TEXT_LOW = 2
_VOICE_LOW = 16
_ROLE_LOW = 32
MEMBER_ROLE_LOW = _ROLE_LOW + 1  # the seed gives every member this role
# The bot's managed role (what inviting it with permissions creates), above the others.
BOT_ROLE_LOW = 47
# What the bot's role may do until ``PUT {control}/guilds/{id}/bot_permissions`` changes it:
# view, send, embed, attach, history, reactions, manage messages/channels/roles/nicknames,
# kick, ban and timeout (moderate members).
BOT_ROLE_PERMISSIONS = (
    (1 << 10) | (1 << 11) | (1 << 14) | (1 << 15) | (1 << 16) | (1 << 6) | (1 << 13)
    | (1 << 4) | (1 << 28) | (1 << 27) | (1 << 1) | (1 << 2) | (1 << 40)
)  # fmt: skip

_ADJECTIVES = (
    "Cozy", "Brave", "Sunny", "Quiet", "Lucky", "Swift", "Mellow", "Shiny",
    "Clever", "Gentle", "Bold", "Witty", "Calm", "Merry", "Nimble", "Jolly",
)  # fmt: skip
_NOUNS = (
    "Otters", "Pixels", "Dragons", "Cactus Club", "Coders", "Foxes", "Owls", "Rockets",
    "Gardeners", "Penguins", "Wizards", "Hikers", "Bakers", "Robots", "Comets", "Llamas",
)  # fmt: skip
_CHANNEL_NAMES = ("general", "bot-commands", "random", "memes")
_ROLE_NAMES = ("Moderator", "Member", "Helper", "Artist", "Gamer")
_USER_NAMES = ("alex", "sam", "robin", "kai", "jules", "noor", "mika", "lee", "ari", "sky")

# Timestamp used for every created_at/joined_at field: fixed so payloads are deterministic.
_JOINED_AT = "2024-01-01T00:00:00.000000+00:00"

_MASK64 = (1 << 64) - 1


def mix(seed: int, value: int) -> int:
    """A splitmix64 step: a cheap, well-spread deterministic hash of ``(seed, value)``."""
    z = (value + seed * 0x9E3779B97F4A7C15 + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


_quote = json.encoder.encode_basestring  # type: ignore[attr-defined]  # C-accelerated


def dumps(obj: Any) -> str:
    """Compact JSON, as Discord sends it."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# Channel types a message can be posted in: text, announcement and the three thread types.
POSTABLE_TYPES = frozenset((0, 5, 10, 11, 12))


class ChannelOverlay(Protocol):
    """What the channel model (channel_state.py) answers the world: ``None`` means "not
    mine, ask the seed"."""

    def channel_ref(self, channel_id: int) -> ChannelRef | Literal[False] | None: ...
    def channel_type(self, channel_id: int) -> int | None: ...
    def channels(self, index: int) -> list[dict[str, Any]] | None: ...
    def thread_object(self, channel_id: int) -> dict[str, Any] | None: ...
    def active_thread_objects(self, index: int) -> list[dict[str, Any]]: ...
    def permission_channel(self, channel_id: int) -> int: ...


@dataclass(frozen=True)
class ChannelRef:
    """Where a channel lives: the ids needed to route an event to its shard."""

    channel_id: int
    guild_id: int
    guild_index: int


class World:
    """A deterministic Discord world of ``guilds`` guilds generated from ``seed``."""

    def __init__(self, guilds: int, seed: int = 0, *, cache_size: int = 10_000) -> None:
        if guilds < 0:
            raise ValueError("guilds must be >= 0")
        self.guild_count = guilds
        self.seed = seed
        # User pool: big enough that members differ between guilds, small enough to
        # make "the same user in several guilds" common, as in real bots.
        self.user_pool = max(50, min(100_000, guilds * 2))
        self.bot_id = (BOT_TIMESTAMP + mix(seed, 7) % 1_000_000) << 22
        self.application_id = self.bot_id
        self._cache: OrderedDict[int, str] = OrderedDict()
        self._cache_size = cache_size
        self.cache_size = cache_size
        self._users_json: dict[int, str] = {}
        #: Set by the server model (guild_state.py): the JSON of a guild it changed (with
        #: its voice states if the flag says so), or None.
        self.guild_override: Callable[[int, bool], str | None] | None = None
        #: The guild's own fields the bot or the owner edited (``name``, ``description``,
        #: ``icon``, ...), by guild index; they override the seed's. Only a guild the server
        #: model changed has any, so the fast renderer never needs them.
        self.guild_fields: dict[int, dict[str, Any]] = {}
        #: Indices of the guilds the server model changed, and its answers for them.
        self.changed_indices: set[int] = set()
        self.member_override: Callable[[int, int], dict[str, Any] | None] | None = None
        self.member_ids_override: Callable[[int], list[int]] | None = None
        self.overwrites_override: Callable[[int], list[dict[str, Any]]] | None = None
        #: Set by the channel model (channel_state.py): channels created, edited or deleted,
        #: and threads. It answers for the guilds and threads it knows; the seed for the rest.
        self.channel_overlay: ChannelOverlay | None = None

    # ---- ids and routing -------------------------------------------------------------

    def guild_id(self, index: int) -> int:
        """Snowflake of guild number ``index`` (0-based)."""
        return (GUILD_EPOCH + index) << 22

    def guild_index(self, guild_id: int) -> int | None:
        """Index of the guild with this id, or None if it is not in the world."""
        if guild_id & ((1 << 22) - 1):
            return None
        index = (guild_id >> 22) - GUILD_EPOCH
        return index if 0 <= index < self.guild_count else None

    @staticmethod
    def shard_of(guild_id: int, shard_count: int) -> int:
        """Discord's rule: the shard that receives a guild's events."""
        return (guild_id >> 22) % shard_count

    def guild_indices_for_shard(self, shard_id: int, shard_count: int) -> range:
        """Indices of the guilds shard ``shard_id`` of ``shard_count`` holds (a range)."""
        first = (shard_id - GUILD_EPOCH) % shard_count
        return range(first, self.guild_count, shard_count)

    def guild_ids_for_shard(self, shard_id: int, shard_count: int) -> list[int]:
        """Ids of the guilds shard ``shard_id`` of ``shard_count`` holds, ascending."""
        return [self.guild_id(i) for i in self.guild_indices_for_shard(shard_id, shard_count)]

    def count_for_shard(self, shard_id: int, shard_count: int) -> int:
        """How many guilds that shard holds (O(1))."""
        return len(self.guild_indices_for_shard(shard_id, shard_count))

    def recommended_shards(self) -> int:
        """Discord's recommendation: one shard per 1,000 guilds, at least one."""
        return max(1, -(-self.guild_count // 1000))

    def text_channel_ids(self, guild_id: int) -> list[int]:
        """Ids of the text channels of a guild (the first is ``general``)."""
        return [guild_id | (_TEXT_LOW + k) for k in range(TEXT_CHANNELS_PER_GUILD)]

    def channel(self, channel_id: int) -> ChannelRef | None:
        """Resolve a channel id to its guild, or None for an unknown channel."""
        overlay = self.channel_overlay
        if overlay is not None:
            known = overlay.channel_ref(channel_id)
            if known is not None:
                return known or None
        guild_id = channel_id >> 22 << 22
        index = self.guild_index(guild_id)
        if index is None:
            return None
        low = channel_id - guild_id
        if low == _CATEGORY_LOW or _TEXT_LOW <= low < _TEXT_LOW + TEXT_CHANNELS_PER_GUILD:
            return ChannelRef(channel_id, guild_id, index)
        if low == _VOICE_LOW:
            return ChannelRef(channel_id, guild_id, index)
        return None

    def permission_channel(self, channel_id: int) -> int:
        """The channel whose permissions apply in ``channel_id``: a thread's parent, else itself."""
        if self.channel_overlay is None:
            return channel_id
        return self.channel_overlay.permission_channel(channel_id)

    def is_text_channel(self, channel_id: int) -> bool:
        """True for the text channels (and threads) bots can post in."""
        overlay = self.channel_overlay
        if overlay is not None:
            kind = overlay.channel_type(channel_id)
            if kind is not None:
                return kind in POSTABLE_TYPES
        low = channel_id & ((1 << 22) - 1)
        return self.channel(channel_id) is not None and low >= _TEXT_LOW and low < _VOICE_LOW

    # ---- users -----------------------------------------------------------------------

    def user_id(self, index: int) -> int:
        """Snowflake of pool user number ``index``."""
        return (USER_EPOCH + index) << 22

    def user_index(self, user_id: int) -> int | None:
        """Index of a pool user, or None."""
        if user_id & ((1 << 22) - 1):
            return None
        index = (user_id >> 22) - USER_EPOCH
        return index if 0 <= index < self.user_pool else None

    def user(self, user_id: int) -> dict[str, Any] | None:
        """The user object of a pool user or of the bot, or None."""
        if user_id == self.bot_id:
            return self.bot_user()
        index = self.user_index(user_id)
        if index is None:
            return None
        name = f"{_USER_NAMES[mix(self.seed, index) % len(_USER_NAMES)]}{index}"
        return {
            "id": str(user_id),
            "username": name,
            "global_name": name.capitalize(),
            "discriminator": "0",
            "avatar": None,
            "bot": False,
            "public_flags": 0,
        }

    def bot_user(self) -> dict[str, Any]:
        """The bot's own user object (what ``GET /users/@me`` returns)."""
        return {
            "id": str(self.bot_id),
            "username": "SandboxBot",
            "global_name": None,
            "discriminator": "0",
            "avatar": None,
            "bot": True,
            "verified": True,
            "mfa_enabled": False,
            "flags": 0,
            "public_flags": 0,
        }

    def application(self) -> dict[str, Any]:
        """The bot's application object (``GET /oauth2/applications/@me``)."""
        return {
            "id": str(self.application_id),
            "name": "SandboxBot",
            "icon": None,
            "description": "A bot living in the ezlang sandbox",
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": 0,
            "owner": self.user(self.user_id(0)),
            "team": None,
            "summary": "",
            "rpc_origins": [],
        }

    def member_ids(self, index: int) -> list[int]:
        """Ids of the (non-bot) members of guild ``index``, deterministic from the seed."""
        base = mix(self.seed, index)
        pool = self.user_pool
        # Distinct for pool >= 50 > MEMBERS_PER_GUILD: 7919 is prime and pool < 7919 * k
        # collisions are removed anyway.
        ids = dict.fromkeys(
            (USER_EPOCH + (base + k * 7919) % pool) << 22 for k in range(MEMBERS_PER_GUILD)
        )
        return list(ids)

    def member(self, guild_index: int, user_id: int) -> dict[str, Any] | None:
        """A member object of ``user_id`` in guild ``guild_index``, or None."""
        if guild_index in self.changed_indices and self.member_override is not None:
            return self.member_override(guild_index, user_id)
        if user_id != self.bot_id and user_id not in self.member_ids(guild_index):
            return None
        user = self.user(user_id)
        gid = self.guild_id(guild_index)
        if user_id == self.bot_id:
            roles = [str(gid | BOT_ROLE_LOW)]
        else:
            roles = [str(gid | (_ROLE_LOW + 1))]
        return {
            "user": user,
            "roles": roles,
            "joined_at": _JOINED_AT,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "nick": None,
            "avatar": None,
            "premium_since": None,
            "pending": False,
        }

    def current_member_ids(self, index: int) -> list[int]:
        """Ids of every member of guild ``index`` now, the bot first (joins, kicks, bans
        of the server model included)."""
        if index in self.changed_indices and self.member_ids_override is not None:
            return self.member_ids_override(index)
        return [self.bot_id, *self.member_ids(index)]

    # ---- guild objects ---------------------------------------------------------------

    def guild_name(self, index: int) -> str:
        """A friendly, deterministic guild name (or the one it was renamed to)."""
        edited = self.guild_fields.get(index)
        if edited is not None and "name" in edited:
            return str(edited["name"])
        h = mix(self.seed, index + 1_000_003)
        return f"{_ADJECTIVES[h % 16]} {_NOUNS[(h >> 8) % 16]} #{index}"

    def channels(self, index: int) -> list[dict[str, Any]]:
        """The channels of guild ``index``: a category, text channels and a voice channel
        (with the permission overwrites the server model stored, once the guild changed)."""
        overlay = self.channel_overlay
        listed = None if overlay is None else overlay.channels(index)
        out = self._seed_channels(index) if listed is None else listed
        if index in self.changed_indices and self.overwrites_override is not None:
            for ch in out:
                ch["permission_overwrites"] = self.overwrites_override(int(ch["id"]))
        return out

    def _seed_channels(self, index: int) -> list[dict[str, Any]]:
        gid = self.guild_id(index)
        sgid = str(gid)
        category = str(gid | _CATEGORY_LOW)
        out: list[dict[str, Any]] = [
            {
                "id": category,
                "type": 4,
                "name": "Text Channels",
                "position": 0,
                "guild_id": sgid,
                "permission_overwrites": [],
                "flags": 0,
            }
        ]
        for k in range(TEXT_CHANNELS_PER_GUILD):
            out.append(
                {
                    "id": str(gid | (_TEXT_LOW + k)),
                    "type": 0,
                    "name": _CHANNEL_NAMES[k % len(_CHANNEL_NAMES)],
                    "position": k,
                    "parent_id": category,
                    "guild_id": sgid,
                    "topic": None,
                    "nsfw": False,
                    "last_message_id": None,
                    "rate_limit_per_user": 0,
                    "permission_overwrites": [],
                    "flags": 0,
                }
            )
        out.append(
            {
                "id": str(gid | _VOICE_LOW),
                "type": 2,
                "name": "Voice",
                "position": TEXT_CHANNELS_PER_GUILD,
                "parent_id": category,
                "guild_id": sgid,
                "bitrate": 64000,
                "user_limit": 0,
                "rtc_region": None,
                "permission_overwrites": [],
                "flags": 0,
            }
        )
        return out

    def channel_object(self, channel_id: int) -> dict[str, Any] | None:
        """The channel object for ``GET /channels/{id}`` (a thread too), or None."""
        if self.channel_overlay is not None:
            thread = self.channel_overlay.thread_object(channel_id)
            if thread is not None:
                return thread
        ref = self.channel(channel_id)
        if ref is None:
            return None
        sid = str(channel_id)
        for ch in self.channels(ref.guild_index):
            if ch["id"] == sid:
                return ch
        return None

    def roles(self, index: int) -> list[dict[str, Any]]:
        """@everyone (id = guild id) and a few named roles."""
        gid = self.guild_id(index)
        everyone = {
            "id": str(gid),
            "name": "@everyone",
            "color": 0,
            "hoist": False,
            "position": 0,
            "permissions": "1071698660929",
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }
        out = [everyone]
        for k in range(ROLES_PER_GUILD):
            out.append(
                {
                    "id": str(gid | (_ROLE_LOW + k)),
                    "name": _ROLE_NAMES[(mix(self.seed, index * 31 + k) % len(_ROLE_NAMES))],
                    "color": mix(self.seed, index * 17 + k) % 0xFFFFFF,
                    "hoist": k == 0,
                    "position": ROLES_PER_GUILD - k,
                    "permissions": "8" if k == 0 else "104324673",
                    "managed": False,
                    "mentionable": True,
                    "flags": 0,
                }
            )
        out.append(self.bot_role(index))
        return out

    def bot_role(self, index: int) -> dict[str, Any]:
        """The bot's managed role in guild ``index`` (top of the list, below no one)."""
        return {
            "id": str(self.guild_id(index) | BOT_ROLE_LOW),
            "name": "SandboxBot",
            "color": 0,
            "hoist": False,
            "position": ROLES_PER_GUILD + 1,
            "permissions": str(BOT_ROLE_PERMISSIONS),
            "managed": True,
            "mentionable": False,
            "flags": 0,
            "tags": {"bot_id": str(self.bot_id)},
        }

    def guild(self, index: int) -> dict[str, Any]:
        """The full guild object, as GUILD_CREATE carries it (with channels and members)."""
        gid = self.guild_id(index)
        members = [self.member(index, self.bot_id)]
        members += [self.member(index, uid) for uid in self.member_ids(index)]
        guild = {
            "id": str(gid),
            "name": self.guild_name(index),
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": str(self.member_ids(index)[0]),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": self.roles(index),
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": str(gid | _TEXT_LOW),
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "joined_at": _JOINED_AT,
            "large": False,
            "unavailable": False,
            "member_count": len(members),
            "members": members,
            "channels": self.channels(index),
            "threads": []
            if self.channel_overlay is None
            else self.channel_overlay.active_thread_objects(index),
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
        }
        edited = self.guild_fields.get(index)
        if edited:
            guild.update(edited)
        return guild

    def guild_json(self, index: int, voice: bool = True) -> str:
        """The JSON of :meth:`guild`, cached (bounded LRU) because GUILD_CREATE bursts are hot.

        A guild the server model changed (``guild_override``) is rendered from that model;
        ``voice``: with its voice states (the session has GUILD_VOICE_STATES).
        """
        if index in self.changed_indices and self.guild_override is not None:
            changed = self.guild_override(index, voice)
            if changed is not None:
                return changed
        cached = self._cache.get(index)
        if cached is not None:
            self._cache.move_to_end(index)
            return cached
        text = self._render_guild(index)
        self._cache[index] = text
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return text

    def _user_json(self, user_id: int) -> str:
        text = self._users_json.get(user_id)
        if text is None:
            index = self.user_index(user_id)
            if index is None:  # the bot
                text = dumps(self.user(user_id))
            else:
                name = f"{_USER_NAMES[mix(self.seed, index) % len(_USER_NAMES)]}{index}"
                text = (
                    f'{{"id":"{user_id}","username":"{name}","global_name":"{name.capitalize()}",'
                    '"discriminator":"0","avatar":null,"bot":false,"public_flags":0}'
                )
            if len(self._users_json) < 200_000:
                self._users_json[user_id] = text
        return text

    def _render_guild(self, index: int) -> str:
        """:meth:`guild` rendered straight to JSON with string templates.

        Equal to ``dumps(self.guild(index))`` once parsed (a test holds it to that), but
        several times faster: READY + 1,000 GUILD_CREATE must leave within 0.5 s even
        with a cold cache.
        """
        gid = self.guild_id(index)
        seed = self.seed
        q = _quote
        member_ids = self.member_ids(index)
        member_role = f'["{gid + _ROLE_LOW + 1}"]'
        tail = (
            f',"joined_at":"{_JOINED_AT}","deaf":false,"mute":false,"flags":0,"nick":null,'
            '"avatar":null,"premium_since":null,"pending":false}'
        )
        members = [
            f'{{"user":{self._user_json(self.bot_id)},"roles":["{gid + BOT_ROLE_LOW}"]{tail}'
        ]
        members += [
            f'{{"user":{self._user_json(uid)},"roles":{member_role}{tail}' for uid in member_ids
        ]
        roles = [
            f'{{"id":"{gid}","name":"@everyone","color":0,"hoist":false,"position":0,'
            '"permissions":"1071698660929","managed":false,"mentionable":false,"flags":0}'
        ]
        for k in range(ROLES_PER_GUILD):
            name = q(_ROLE_NAMES[mix(seed, index * 31 + k) % len(_ROLE_NAMES)])
            roles.append(
                f'{{"id":"{gid + _ROLE_LOW + k}","name":{name},'
                f'"color":{mix(seed, index * 17 + k) % 0xFFFFFF},'
                f'"hoist":{"true" if k == 0 else "false"},"position":{ROLES_PER_GUILD - k},'
                f'"permissions":"{"8" if k == 0 else "104324673"}","managed":false,'
                '"mentionable":true,"flags":0}'
            )
        roles.append(dumps(self.bot_role(index)))
        cat = gid + _CATEGORY_LOW
        channels = [
            f'{{"id":"{cat}","type":4,"name":"Text Channels","position":0,"guild_id":"{gid}",'
            '"permission_overwrites":[],"flags":0}'
        ]
        for k in range(TEXT_CHANNELS_PER_GUILD):
            channels.append(
                f'{{"id":"{gid + _TEXT_LOW + k}","type":0,'
                f'"name":{q(_CHANNEL_NAMES[k % len(_CHANNEL_NAMES)])},"position":{k},'
                f'"parent_id":"{cat}","guild_id":"{gid}","topic":null,"nsfw":false,'
                '"last_message_id":null,"rate_limit_per_user":0,"permission_overwrites":[],'
                '"flags":0}'
            )
        channels.append(
            f'{{"id":"{gid + _VOICE_LOW}","type":2,"name":"Voice",'
            f'"position":{TEXT_CHANNELS_PER_GUILD},"parent_id":"{cat}","guild_id":"{gid}",'
            '"bitrate":64000,"user_limit":0,"rtc_region":null,"permission_overwrites":[],'
            '"flags":0}'
        )
        return (
            f'{{"id":"{gid}","name":{q(self.guild_name(index))},"icon":null,"splash":null,'
            f'"discovery_splash":null,"owner_id":"{member_ids[0]}","afk_channel_id":null,'
            '"afk_timeout":300,"verification_level":0,"default_message_notifications":0,'
            f'"explicit_content_filter":0,"roles":[{",".join(roles)}],"emojis":[],'
            '"stickers":[],"features":[],"mfa_level":0,"application_id":null,'
            f'"system_channel_id":"{gid + _TEXT_LOW}","system_channel_flags":0,'
            '"rules_channel_id":null,"vanity_url_code":null,"description":null,"banner":null,'
            '"premium_tier":0,"premium_subscription_count":0,"preferred_locale":"en-US",'
            '"public_updates_channel_id":null,"nsfw_level":0,'
            f'"premium_progress_bar_enabled":false,"joined_at":"{_JOINED_AT}","large":false,'
            f'"unavailable":false,"member_count":{len(members)},"members":[{",".join(members)}],'
            f'"channels":[{",".join(channels)}],"threads":[],"voice_states":[],"presences":[],'
            '"stage_instances":[],"guild_scheduled_events":[]}'
        )

    def partial_guild(self, index: int) -> dict[str, Any]:
        """The partial guild of ``GET /users/@me/guilds``."""
        return {
            "id": str(self.guild_id(index)),
            "name": self.guild_name(index),
            "icon": self.guild_fields.get(index, {}).get("icon"),
            "banner": None,
            "owner": False,
            "permissions": "1071698660929",
            "features": [],
            "approximate_member_count": MEMBERS_PER_GUILD + 1,
        }
