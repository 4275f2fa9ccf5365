"""Discord's permission arithmetic, for the sandbox's server model.

The order follows Discord's documentation ("Permissions: Permission Hierarchy" and
"Permission Overwrites"): the owner has everything; otherwise the base is @everyone's
permissions OR every role of the member; ADMINISTRATOR means everything; then, in a
channel, the @everyone overwrite, then the role overwrites together (deny, then allow),
then the member overwrite. A timed-out member keeps only VIEW_CHANNEL and
READ_MESSAGE_HISTORY. Role hierarchy: an actor manages a role only if it is strictly below
the actor's highest role, and a member only if the member's highest role is strictly
below the actor's (the owner is above everyone and can be managed by no one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# Bit per permission, with discord.py's / the Discord docs' names in lower case.
FLAGS: dict[str, int] = {
    "create_instant_invite": 1 << 0,
    "kick_members": 1 << 1,
    "ban_members": 1 << 2,
    "administrator": 1 << 3,
    "manage_channels": 1 << 4,
    "manage_guild": 1 << 5,
    "add_reactions": 1 << 6,
    "view_audit_log": 1 << 7,
    "priority_speaker": 1 << 8,
    "stream": 1 << 9,
    "view_channel": 1 << 10,
    "send_messages": 1 << 11,
    "send_tts_messages": 1 << 12,
    "manage_messages": 1 << 13,
    "embed_links": 1 << 14,
    "attach_files": 1 << 15,
    "read_message_history": 1 << 16,
    "mention_everyone": 1 << 17,
    "use_external_emojis": 1 << 18,
    "view_guild_insights": 1 << 19,
    "connect": 1 << 20,
    "speak": 1 << 21,
    "mute_members": 1 << 22,
    "deafen_members": 1 << 23,
    "move_members": 1 << 24,
    "use_vad": 1 << 25,
    "change_nickname": 1 << 26,
    "manage_nicknames": 1 << 27,
    "manage_roles": 1 << 28,
    "manage_webhooks": 1 << 29,
    "manage_guild_expressions": 1 << 30,
    "use_application_commands": 1 << 31,
    "request_to_speak": 1 << 32,
    "manage_events": 1 << 33,
    "manage_threads": 1 << 34,
    "create_public_threads": 1 << 35,
    "create_private_threads": 1 << 36,
    "use_external_stickers": 1 << 37,
    "send_messages_in_threads": 1 << 38,
    "use_embedded_activities": 1 << 39,
    "moderate_members": 1 << 40,
    "view_creator_monetization_analytics": 1 << 41,
    "use_soundboard": 1 << 42,
    "create_guild_expressions": 1 << 43,
    "create_events": 1 << 44,
    "use_external_sounds": 1 << 45,
    "send_voice_messages": 1 << 46,
    "send_polls": 1 << 49,
    "use_external_apps": 1 << 50,
}
ALL = 0
for _bit in FLAGS.values():
    ALL |= _bit

ADMINISTRATOR = FLAGS["administrator"]
VIEW_CHANNEL = FLAGS["view_channel"]
READ_MESSAGE_HISTORY = FLAGS["read_message_history"]


def parse_names(names: Iterable[Any]) -> int:
    """The bits of permission names (``["send_messages", "kick_members"]``).

    Raises ``ValueError`` naming the first unknown name.
    """
    bits = 0
    for name in names:
        key = str(name).lower()
        if key not in FLAGS:
            raise ValueError(f'{name!r} is not a permission name (e.g. "send_messages")')
        bits |= FLAGS[key]
    return bits


def names(bits: int) -> list[str]:
    """The names of the set bits, in bit order."""
    return [name for name, bit in FLAGS.items() if bits & bit]


def base_permissions(
    *,
    is_owner: bool,
    everyone: int,
    role_permissions: Iterable[int],
    timed_out: bool = False,
) -> int:
    """Guild-wide permissions of a member: Discord's ``compute_base_permissions``."""
    if is_owner:
        return ALL
    perms = everyone
    for p in role_permissions:
        perms |= p
    if perms & ADMINISTRATOR:
        return ALL
    if timed_out:
        perms &= VIEW_CHANNEL | READ_MESSAGE_HISTORY
    return perms


def channel_permissions(
    base: int,
    *,
    guild_id: int,
    member_id: int,
    member_roles: Iterable[int],
    overwrites: Iterable[Mapping[str, Any]],
    timed_out: bool = False,
) -> int:
    """Permissions in a channel: ``base`` with its overwrites applied in Discord's order.

    ``overwrites`` are Discord overwrite objects (``{id, type, allow, deny}``; type 0 role,
    1 member; allow/deny as strings or ints).
    """
    if base & ADMINISTRATOR:
        return ALL
    by_id = {int(o["id"]): o for o in overwrites}
    perms = base
    everyone = by_id.get(guild_id)
    if everyone is not None:
        perms &= ~int(everyone.get("deny", 0))
        perms |= int(everyone.get("allow", 0))
    allow = deny = 0
    for rid in member_roles:
        o = by_id.get(rid)
        if o is not None and int(o.get("type", 0)) == 0:
            allow |= int(o.get("allow", 0))
            deny |= int(o.get("deny", 0))
    perms = (perms & ~deny) | allow
    mine = by_id.get(member_id)
    if mine is not None and int(mine.get("type", 1)) == 1:
        perms &= ~int(mine.get("deny", 0))
        perms |= int(mine.get("allow", 0))
    if timed_out:
        perms &= VIEW_CHANNEL | READ_MESSAGE_HISTORY
    return perms


MANAGE_ROLES = FLAGS["manage_roles"]


def allows_manage_roles(
    *,
    guild_id: int,
    member_id: int,
    member_roles: Iterable[int],
    overwrites: Iterable[Mapping[str, Any]],
) -> bool:
    """True if an overwrite of the channel that applies to the member (@everyone's, one of
    its roles' or its own) allows MANAGE_ROLES ("Manage Permissions" in the Discord app)."""
    mine = {guild_id, member_id, *member_roles}
    return any(int(o["id"]) in mine and int(o.get("allow", 0)) & MANAGE_ROLES for o in overwrites)


def may_edit_overwrite(*, here: int, scope: int, bits: int, manage_overwrite: bool) -> bool:
    """Discord's rule for ``PUT``/``DELETE /channels/{id}/permissions/{overwrite_id}``.

    ``here``: the actor's permissions in the channel; ``scope``: its permissions in the
    channel's category, or in the guild when the channel has none; ``bits``: allow | deny.
    The actor needs MANAGE_ROLES in the channel (guild-wide and not denied there, or allowed
    by an overwrite). It may then allow or deny only permissions it holds in ``scope`` —
    unless a MANAGE_ROLES overwrite in the channel applies to it, which lets it set any
    (Edit Channel Permissions; discord-api-docs issues 3450 and 6798).
    """
    if here & ADMINISTRATOR:
        return True
    if not here & MANAGE_ROLES:
        return False
    return manage_overwrite or not bits & ~scope
