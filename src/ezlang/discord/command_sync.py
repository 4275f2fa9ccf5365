"""Syncing a program's application commands with Discord: once per bot, and only on change.

Commands belong to the application, not to a shard, so one process writes them: the unsharded
bot, or shard 0 of a sharded one (``ezlang.discord.plugin``). It ``GET``s what Discord holds,
compares it with the declarations — both reduced to the fields EasyLang sets, then hashed —
and bulk-overwrites (``PUT``) only when they differ. ``commands_guild`` sends them to one guild
instead (instant updates while developing). Nothing is written for a program that declared no
command, so a bot that only uses buttons never wipes commands registered some other way.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from typing import TYPE_CHECKING, Any, cast

import discord

from ezlang.discord import convert, plugin
from ezlang.discord.commands import (
    CHAT_INPUT,
    CONTEXT_COMMANDS_MAX,
    KIND_NAMES,
    SLASH_COMMANDS_MAX,
    Command,
    _bad,
)
from ezlang.lang.errors import EzError
from ezlang.lang.values import to_repr

if TYPE_CHECKING:
    from ezlang.discord.runtime import BotRuntime


def _norm_option(o: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": o.get("type"),
        "name": o.get("name"),
        "description": o.get("description") or "",
        "required": bool(o.get("required", False)),
        "autocomplete": bool(o.get("autocomplete", False)),
    }
    if o.get("choices"):
        out["choices"] = [{"name": c["name"], "value": c["value"]} for c in o["choices"]]
    for key in ("min_value", "max_value", "min_length", "max_length"):
        if o.get(key) is not None:
            out[key] = o[key]
    if o.get("channel_types"):
        out["channel_types"] = sorted(o["channel_types"])
    if o.get("options"):
        out["options"] = [_norm_option(x) for x in o["options"]]
    return out


def normalise(command: dict[str, Any]) -> dict[str, Any]:
    """A command reduced to the fields EasyLang sets (Discord adds ids, versions, defaults)."""
    kind = command.get("type", CHAT_INPUT)
    contexts = command.get("contexts")
    return {
        "type": kind,
        "name": command.get("name"),
        "description": command.get("description") or "" if kind == CHAT_INPUT else "",
        "options": [_norm_option(o) for o in command.get("options") or ()],
        "default_member_permissions": command.get("default_member_permissions"),
        # Discord fills in all contexts when none were given; only "guild only" is EasyLang's.
        "guild_only": contexts == [0],
        "nsfw": bool(command.get("nsfw", False)),
    }


def fingerprint(commands: list[dict[str, Any]]) -> str:
    """A hash of a command list, independent of order and of Discord's extra fields."""
    items = sorted((normalise(c) for c in commands), key=lambda c: (c["type"], c["name"]))
    return hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()


class CommandSet:
    """The commands a program declared, and the one sync per bot."""

    def __init__(self, rt: BotRuntime) -> None:
        self.rt = rt
        self.commands: dict[tuple[int, str], Command] = {}
        #: Commands of the older register_slash_command, by guild id (None: global).
        self.registered: dict[int | None, dict[tuple[int, str], dict[str, Any]]] = {}
        self.guild: int | None = None
        self.synced_hash: str | None = None
        #: How many bulk overwrites this process sent (for tests and the log).
        self.overwrites = 0
        self._lock = asyncio.Lock()
        self._pending = False
        self._ready = False

    def add(self, cmd: Command) -> None:
        key = (cmd.kind, cmd.name)
        if key in self.commands:
            raise _bad(
                f"{KIND_NAMES[cmd.kind]} {to_repr(cmd.name)}",
                "a command with this name was already declared",
            )
        limit = SLASH_COMMANDS_MAX if cmd.kind == CHAT_INPUT else CONTEXT_COMMANDS_MAX
        if sum(1 for k in self.commands if k[0] == cmd.kind) >= limit:
            raise _bad(
                f"{KIND_NAMES[cmd.kind]} {to_repr(cmd.name)}",
                f"Discord allows at most {limit} {KIND_NAMES[cmd.kind]}s per bot",
            )
        self.commands[key] = cmd
        self.rt.expect_bot_start()
        self.schedule_sync()

    def find(self, kind: int, name: str) -> Command | None:
        return self.commands.get((kind, name))

    def target_guild(self) -> int | None:
        """``commands_guild``: ``set_commands_guild``, ``--commands-guild``,
        ``COMMANDS_GUILD=…`` or ``$EZLANG_COMMANDS_GUILD`` (which a shard manager's children
        inherit); None registers globally."""
        if self.guild is not None:
            return self.guild
        ctx = self.rt.ctx
        value = (
            ctx.options.get("commands_guild")
            or ctx.arguments.get("COMMANDS_GUILD")
            or os.environ.get("EZLANG_COMMANDS_GUILD")
        )
        if value in (None, ""):
            return None
        return convert.snowflake_arg(value, what="commands_guild")

    def payloads(self, guild: int | None) -> list[dict[str, Any]]:
        declared = [c.payload for c in self.commands.values()]
        extra = self.registered.get(guild, {})
        names = {(p["type"], p["name"]) for p in declared}
        return declared + [p for k, p in extra.items() if k not in names]

    # ---- sync ----------------------------------------------------------------------------

    def writes_commands(self) -> bool:
        """Only one process of a bot registers commands: the unsharded one, or shard 0."""
        shard_plugin = plugin.current()
        return shard_plugin is None or shard_plugin.shard_id == 0

    def on_ready(self) -> None:
        if not self._ready:
            self._ready = True
            self.schedule_sync()

    def schedule_sync(self) -> None:
        """Sync once the current burst of declarations is done (the next loop turn)."""
        if not self._ready or self._pending or not self.commands or not self.writes_commands():
            return
        self._pending = True
        self.rt.spawn(self._sync_soon())

    async def _sync_soon(self) -> None:
        self._pending = False
        try:
            await self.sync()
        except EzError as exc:
            print(
                f"ezlang: could not register the commands: {exc.message}",
                file=sys.stderr,
                flush=True,
            )

    async def sync(self) -> bool:
        """Bulk-overwrite the commands if Discord's differ; True when something was written."""
        client = self.rt.require_client("command sync")
        async with self._lock:
            app_id = client.application_id
            if app_id is None:
                app_id = (await client.application_info()).id
            guild = self.target_guild()
            desired = self.payloads(guild)
            want = fingerprint(desired)
            if want == self.synced_hash:
                return False
            http = client.http
            where = "globally" if guild is None else f"to guild {guild}"
            try:
                if guild is None:
                    current = await http.get_global_commands(app_id)
                else:
                    current = await http.get_guild_commands(app_id, guild)
                if fingerprint(cast(list[dict[str, Any]], current)) == want:
                    self.synced_hash = want
                    print(
                        f"ezlang: {len(desired)} application command(s) unchanged {where}",
                        file=sys.stderr,
                        flush=True,
                    )
                    return False
                if guild is None:
                    await http.bulk_upsert_global_commands(app_id, desired)
                else:
                    await http.bulk_upsert_guild_commands(app_id, guild, desired)
            except discord.HTTPException as exc:
                from ezlang.discord.runtime import rest_error

                raise rest_error(f"registering the commands {where}", exc) from None
            self.synced_hash = want
            self.overwrites += 1
            print(
                f"ezlang: registered {len(desired)} application command(s) {where}",
                file=sys.stderr,
                flush=True,
            )
            return True

    async def register_one(self, guild: int | None, payload: dict[str, Any], what: str) -> None:
        """The older ``register_slash_command``: create/replace one command now.

        It joins the declared set of its scope, so a bulk overwrite keeps it; under the sync
        lock, so an overwrite running at the same time cannot remove it between its GET and
        its PUT.
        """
        client = self.rt.require_client(what)
        async with self._lock:
            app_id = client.application_id or (await client.application_info()).id
            try:
                if guild is None:
                    await client.http.upsert_global_command(app_id, cast(Any, payload))
                else:
                    await client.http.upsert_guild_command(app_id, guild, payload)
            except discord.HTTPException as exc:
                from ezlang.discord.runtime import rest_error

                raise rest_error(what, exc) from None
            self.registered.setdefault(guild, {})[(payload["type"], payload["name"])] = payload
            self.synced_hash = None  # what Discord holds changed
