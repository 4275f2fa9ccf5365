"""Discord's refusals of member, role and moderation actions, explained for a beginner.

Discord answers every refusal of these actions with the same 403 ``50013 Missing
Permissions`` and no detail. What to fix differs: the bot's role may lack the permission,
or the target may be out of reach (the owner, a member whose highest role is not below the
bot's, a role at or above the bot's highest role, a role managed by an integration, an
administrator who cannot be timed out). :func:`refusal` works out which from what the bot
knows of the server (discord.py's cache, one member fetch if needed) and says it, naming
the permission and, for the hierarchy, the two roles.
"""

from __future__ import annotations

import discord

from ezlang.discord.messages import HINTS
from ezlang.discord.permission_names import label, permission_bit
from ezlang.discord.runtime import rest_error
from ezlang.lang.errors import EzError

#: What to fix for the codes these actions meet, beyond the message builtins' hints.
EXTRA_HINTS: dict[int, str] = {
    10007: "that user is not a member of the server (they may have left or been kicked)",
    10011: "no role has that id in this server (it may have been deleted)",
    10026: "that user is not banned from this server",
    50101: "role icons need a server with enough boosts (the ROLE_ICONS feature); "
    "use create_role() without an icon",
    500000: "none of those users could be banned (already banned, the owner, or above the "
    "bot's highest role)",
}

_ROLES_PAGE = "Server Settings → Roles"


def _describe(role: discord.Role) -> str:
    return f"'{role.name}' (position {role.position})"


async def _member(guild: discord.Guild, user_id: int) -> discord.Member | None:
    # Asked fresh (only on this error path): without the members intent a cached member's
    # roles are not kept up to date.
    try:
        return await guild.fetch_member(user_id)
    except discord.HTTPException:
        return guild.get_member(user_id)


async def refusal(
    what: str,
    exc: discord.HTTPException,
    client: discord.Client,
    guild_id: int,
    permissions: tuple[str, ...],
    *,
    member_id: int | None = None,
    role_id: int | None = None,
    timeout: bool = False,
) -> EzError:
    """The DiscordError for a failed action: for 50013 the reason (permission, owner,
    hierarchy with both roles, managed role, administrator), else Discord's message and
    what to fix for its code."""
    err = rest_error(what, exc)
    why: str | None
    if exc.code == 50013:
        why = await _why(client, guild_id, permissions, member_id, role_id, timeout)
    else:
        why = EXTRA_HINTS.get(exc.code) or HINTS.get(exc.code)
    return EzError("DiscordError", f"{err.message}: {why}") if why else err


async def _why(
    client: discord.Client,
    guild_id: int,
    permissions: tuple[str, ...],
    member_id: int | None,
    role_id: int | None,
    timeout: bool,
) -> str:
    needed = " and ".join(label(p) for p in permissions)
    guild = client.get_guild(guild_id)
    me = guild.me if guild is not None else None
    if guild is None or me is None:
        # A server of another shard: say every rule that could apply.
        return (
            f"the bot needs {needed}, and its highest role must be above the member's or "
            f"role's; check both in {_ROLES_PAGE}"
        )
    have = me.guild_permissions.value
    missing = [p for p in permissions if not have & permission_bit(p, "refusal")]
    if missing:
        names = " and ".join(label(p) for p in missing)
        return f"the bot's role lacks {names}; give it {names} in {_ROLES_PAGE}"
    top = me.top_role
    if member_id is not None:
        if member_id == guild.owner_id:
            return "nobody can do that to the server owner"
        target = await _member(guild, member_id)
        if target is not None:
            if timeout and target.guild_permissions.administrator:
                return (
                    f"{target.display_name} is an administrator, and Discord never times out "
                    "administrators"
                )
            if target.top_role >= top:
                return (
                    f"the bot's highest role {_describe(top)} must be above "
                    f"{target.display_name}'s highest role {_describe(target.top_role)}; drag "
                    f"'{top.name}' above '{target.top_role.name}' in {_ROLES_PAGE}"
                )
    if role_id is not None:
        role = guild.get_role(role_id)
        if role is not None and role.managed:
            return (
                f"the role '{role.name}' is managed by an integration (a bot's own role or a "
                "linked role): nobody can give, remove or delete it"
            )
        if role is not None and role >= top:
            return (
                f"the role {_describe(role)} is not below the bot's highest role "
                f"{_describe(top)}; drag '{top.name}' above '{role.name}' in {_ROLES_PAGE}"
            )
    return f"the bot needs {needed} and a highest role above what it acts on; check {_ROLES_PAGE}"
