"""Command checks (``CHECK_BUILTINS``): ``require_permission``, ``require_role``,
``guild_only``, ``owner_only``, ``register_command_check``, ``apply_checks``,
``get_command_checks`` and ``run_checks``.

A check is a value (``require_permission("ban_members")``), a function of the interaction
that returns true to allow, or the name of a function registered with
``register_command_check``. Checks attach to a command by its name — in the declaration
(``slash_command("ban", "…", {checks: [...]}, handler)``) or with ``apply_checks("ban", [...])``
— and run, in order, before its handler: the first that fails answers the user with an
ephemeral refusal that says what is missing ("You need the Ban Members permission to use
/ban.") and the handler does not run. ``run_checks(name, i_or_message)`` runs them by hand (a
``listen("interactionCreate")`` handler, or a prefix command on ``messageCreate``).

What a check reads is what Discord says: for an interaction, the member's roles and the
permissions Discord computed for the channel (``member.permissions``); for a message, the
author's permissions in its channel computed by :mod:`ezlang.discord.permissions`. The owner
is the application's owner (or its team's members) from ``GET /oauth2/applications/@me``,
which discord.py reads at login.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord

from ezlang.discord import convert
from ezlang.discord import permissions as perms
from ezlang.lang.asyncbridge import call_async
from ezlang.lang.errors import EzError
from ezlang.lang.registry import register
from ezlang.lang.values import to_repr

if TYPE_CHECKING:
    from ezlang.discord.interaction_object import InteractionObject
    from ezlang.discord.runtime import BotRuntime

_ADMINISTRATOR = discord.Permissions.administrator.flag


class CheckObject(convert.DiscordObject):
    """A built-in check: ``{kind, permission?, role_id?, name?}``."""

    what = "a command check"


@dataclass
class Context:
    """Who used a command, where, and what Discord says they may do."""

    command: str
    user_id: int
    guild_id: int | None
    channel_id: int | None
    roles: list[int] | None  # None: not known yet (a message): fetched when a check needs it
    permissions: int | None
    subject: Any  # what a custom check function receives (the interaction or message)
    slash: bool = True  # a slash command (named /name), not a context menu


class CheckRegistry:
    """A program's checks by command name, and its named custom checks."""

    def __init__(self) -> None:
        self.by_command: dict[str, list[Any]] = {}
        self.named: dict[str, Any] = {}

    def attach(self, command: Any, checks: Any, what: str) -> None:
        name = _command_name(command, what)
        items = [checks] if not isinstance(checks, list) else checks
        for c in items:
            self.validate(c, what)
        self.by_command.setdefault(name, []).extend(items)

    def validate(self, check: Any, what: str) -> None:
        if isinstance(check, CheckObject) or callable(check):
            return
        if isinstance(check, str):
            if check not in self.named:
                raise EzError(
                    "ValueError",
                    f"{what}: no check is named {to_repr(check)}; register it first with "
                    "register_command_check(name, func(i) { return true })",
                )
            return
        raise EzError(
            "TypeError",
            f"{what}: a check is require_permission(…), require_role(…), guild_only(), "
            f"owner_only(), a function or a registered check's name, not {to_repr(check)}",
        )

    def for_command(self, parts: list[str]) -> list[Any]:
        """The checks of a command, then those of its group and subcommand: for
        ``["config", "set", "color"]``, those of ``"config"``, ``"config set"`` and
        ``"config set color"``. A context menu is one part (its name may hold spaces)."""
        found: list[Any] = []
        for n in range(1, len(parts) + 1):
            found += self.by_command.get(" ".join(parts[:n]), ())
        return found


def registry(rt: BotRuntime) -> CheckRegistry:
    """The runtime's checks (kept on its interaction router)."""
    from ezlang.discord.interactions import router

    return router(rt).checks  # type: ignore[no-any-return]


def _command_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise EzError("TypeError", f'{what}: the command is its name, e.g. "ban"')
    return " ".join(value.strip().lstrip("/").split())


def _label(ctx: Context) -> str:
    """How a refusal names the command: ``/ban``, or a context menu's name."""
    return "/" + ctx.command if ctx.slash else ctx.command


# ---- evaluating --------------------------------------------------------------------------


def context_of(command: str, subject: Any, what: str) -> Context:
    """The context of an interaction or a message (for ``run_checks``)."""
    from ezlang.discord.interaction_object import InteractionObject

    if isinstance(subject, InteractionObject):
        native = subject.native
        user = native.user
        roles = [r.id for r in user.roles] if isinstance(user, discord.Member) else []
        return Context(
            command,
            user.id,
            native.guild_id,
            native.channel_id,
            roles,
            native.permissions.value if native.guild_id is not None else 0,
            subject,
            subject["type"] not in ("user_command", "message_command"),
        )
    if isinstance(subject, dict) and isinstance(subject.get("author"), dict):
        guild = subject.get("guild_id")
        return Context(
            command,
            convert.snowflake_arg(subject["author"].get("id"), what=f"{what} author"),
            None if guild is None else int(guild),
            convert.snowflake_arg(subject.get("channel_id"), what=f"{what} channel"),
            None,
            None,
            subject,
        )
    raise EzError(
        "TypeError",
        f"{what} needs the interaction or the message the command came with, "
        f"not {to_repr(subject)}",
    )


async def _permissions(ctx: Context, what: str) -> int:
    if ctx.permissions is None:
        ctx.permissions = int(
            await perms.calculate_permissions(str(ctx.user_id), str(ctx.channel_id))
        )
    return ctx.permissions


async def _roles(ctx: Context, what: str) -> list[int]:
    if ctx.roles is None:
        from ezlang.discord.runtime import runtime

        client = runtime().require_client(what)
        assert ctx.guild_id is not None
        guild = await perms._guild(client, ctx.guild_id, what)
        member = await perms._member(guild, ctx.user_id, what)
        ctx.roles = [r.id for r in member.roles]
    return ctx.roles


def _owners(client: discord.Client) -> set[int]:
    app = client.application
    if app is None:
        return set()
    if app.team is not None:
        return {m.id for m in app.team.members}
    return {app.owner.id}


def _role_name(ctx: Context, role_id: int) -> str:
    from ezlang.discord.runtime import runtime

    client = runtime().client
    guild = None if client is None or ctx.guild_id is None else client.get_guild(ctx.guild_id)
    role = None if guild is None else guild.get_role(role_id)
    return f"the {role.name} role" if role is not None else f"the role <@&{role_id}>"


async def refusal(rt: BotRuntime, ctx: Context, check: Any, what: str) -> str | None:
    """None if ``check`` passes, else what to tell the user."""
    cmd = _label(ctx)
    if isinstance(check, str):
        check = registry(rt).named[check]
    if not isinstance(check, CheckObject):  # a function: true allows, a text refuses with it
        result = await call_async(check, ctx.subject)
        if result is True:
            return None
        if isinstance(result, str) and result.strip():
            return result
        return f"You can't use {cmd}."
    kind = check["kind"]
    in_dm = f"{cmd} can only be used in a server."
    if kind == "guild_only":
        return in_dm if ctx.guild_id is None else None
    if kind == "owner_only":
        client = rt.require_client(what)
        return None if ctx.user_id in _owners(client) else f"Only the bot's owner can use {cmd}."
    if ctx.guild_id is None:
        return in_dm
    if kind == "permission":
        bit = perms.permission_bit(check["permission"], what)
        bits = await _permissions(ctx, what)
        if bits & (bit | _ADMINISTRATOR):
            return None
        return f"You need the {perms.label(check['permission'])} permission to use {cmd}."
    role_id = int(check["role_id"])
    if role_id in await _roles(ctx, what):
        return None
    return f"You need {_role_name(ctx, role_id)} to use {cmd}."


async def first_refusal(rt: BotRuntime, ctx: Context, checks: list[Any], what: str) -> str | None:
    """Run the checks in order; the first refusal, or None when all pass."""
    for check in checks:
        text = await refusal(rt, ctx, check, what)
        if text is not None:
            return text
    return None


async def enforce(rt: BotRuntime, checks: list[Any], obj: InteractionObject) -> bool:
    """Before a command's handler: True to run it, or answer the refusal (ephemeral) and
    return False."""
    ctx = context_of(obj["command"], obj, "a command check")
    path = tuple(p for p in (obj["subcommand_group"], obj["subcommand"]) if p)
    if path and obj["type"] == "command":
        ctx.command = " ".join((obj["command"], *path))
    text = await first_refusal(rt, ctx, checks, f"the checks of {_label(ctx)}")
    if text is None:
        return True
    native = obj.native
    none = discord.AllowedMentions.none()
    try:
        if native.response.is_done():
            await native.followup.send(text, ephemeral=True, allowed_mentions=none)
        else:
            await native.response.send_message(text, ephemeral=True, allowed_mentions=none)
    except discord.HTTPException as exc:
        print(
            f"ezlang: could not tell the user why {_label(ctx)} was refused: "
            f"{exc.status} {exc.text}",
            file=sys.stderr,
            flush=True,
        )
    return False


# ---- builtins ------------------------------------------------------------------------------


def require_permission(permission: Any) -> CheckObject:
    """A check: the user has ``permission`` in the channel (administrators have all)."""
    what = "require_permission()"
    bit = perms.permission_bit(permission, what)
    return CheckObject(kind="permission", permission=perms.NAMES[bit])


def require_role(role_id: Any) -> CheckObject:
    """A check: the user has the role (an id or a role object)."""
    value = role_id.get("id") if isinstance(role_id, dict) else role_id
    rid = convert.snowflake_arg(value, what="require_role() role id")
    return CheckObject(kind="role", role_id=str(rid))


def guild_only() -> CheckObject:
    """A check: the command is used in a server, not in a DM."""
    return CheckObject(kind="guild_only")


def owner_only() -> CheckObject:
    """A check: the user owns the bot's application (or is in its team)."""
    return CheckObject(kind="owner_only")


def register_command_check(name: Any, check_function: Any) -> None:
    """Name a check function ``func(i)`` (true allows; a text refuses with that text) so that
    ``apply_checks`` and ``{checks: [...]}`` can use it by name."""
    from ezlang.discord.runtime import runtime

    what = "register_command_check()"
    if not isinstance(name, str) or not name.strip():
        raise EzError("TypeError", f"{what}: the name must be a non-empty string")
    if not callable(check_function):
        raise EzError(
            "TypeError", f"{what}: the check must be a function, not {to_repr(check_function)}"
        )
    registry(runtime()).named[name.strip()] = check_function


def apply_checks(command_name: Any, checks: Any) -> None:
    """Add checks to a command (``"ban"``, or ``"config set"`` for one subcommand)."""
    from ezlang.discord.runtime import runtime

    registry(runtime()).attach(command_name, checks, "apply_checks()")


def get_command_checks(command_name: Any) -> list[Any]:
    """The checks of a command, in the order they run."""
    from ezlang.discord.runtime import runtime

    name = _command_name(command_name, "get_command_checks()")
    out: list[Any] = []
    for c in registry(runtime()).by_command.get(name, ()):
        out.append(c if isinstance(c, CheckObject | str) else CheckObject(kind="function"))
    return out


async def run_checks(command_name: Any, context: Any) -> dict[str, Any]:
    """Run a command's checks for an interaction or a message: ``{passed, reason}``."""
    from ezlang.discord.runtime import runtime

    what = "run_checks()"
    rt = runtime()
    name = _command_name(command_name, what)
    ctx = context_of(name, context, what)
    parts = name.split() if ctx.slash else [name]
    text = await first_refusal(rt, ctx, registry(rt).for_command(parts), what)
    return convert.DiscordObject(passed=text is None, reason=text)


BUILTINS: dict[str, Callable[..., Any]] = {
    "require_permission": require_permission,
    "require_role": require_role,
    "guild_only": guild_only,
    "owner_only": owner_only,
    "register_command_check": register_command_check,
    "apply_checks": apply_checks,
    "get_command_checks": get_command_checks,
    "run_checks": run_checks,
}

for _name, _fn in BUILTINS.items():
    register(_name, _fn)
