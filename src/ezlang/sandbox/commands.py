"""Application commands as Discord stores and validates them.

Global commands (``/applications/{app}/commands``) and guild commands
(``/applications/{app}/guilds/{guild}/commands``): list, get, create (an existing name of
the same type is overwritten, as on Discord), edit, delete and bulk overwrite (``PUT``,
counted in :attr:`CommandStore.overwrites`). A body Discord would refuse gets 400
``{"code": 50035, "message": "Invalid Form Body", "errors": …}`` with the field path
(``{"0": {"options": {"1": {"name": {"_errors": [...]}}}}}``).

https://discord.com/developers/docs/interactions/application-commands
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .rest import _json_body, error, json_response

if TYPE_CHECKING:
    from .core import Sandbox

CHAT_INPUT, USER, MESSAGE = 1, 2, 3
# Option types: 1 SUB_COMMAND, 2 SUB_COMMAND_GROUP, 3 STRING, 4 INTEGER, 5 BOOLEAN,
# 6 USER, 7 CHANNEL, 8 ROLE, 9 MENTIONABLE, 10 NUMBER, 11 ATTACHMENT.
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, NUMBER = 3, 4, 5, 10
CHOICE_TYPES = (STRING, INTEGER, NUMBER)
# How many commands of each type an application may have per scope.
COMMAND_LIMITS = {CHAT_INPUT: 100, USER: 15, MESSAGE: 15}
MAX_OPTIONS = 25
MAX_CHOICES = 25
MAX_COMMAND_CHARS = 4000  # name + description + every option's and choice's name/description/value
INT_LIMIT = 2**53

Errors = dict[str, Any]


def _err(code: str, message: str) -> Errors:
    return {"_errors": [{"code": code, "message": message}]}


def _set(errors: Errors, path: list[str], leaf: Errors) -> None:
    """Put ``leaf`` at ``path`` in Discord's nested error object."""
    node = errors
    for key in path:
        node = node.setdefault(key, {})
    node.setdefault("_errors", []).extend(leaf["_errors"])


def invalid_form(errors: Errors) -> web.Response:
    """Discord's 400 for a body that fails validation."""
    return error(400, "Invalid Form Body", 50035, errors=errors)


def valid_chat_name(name: Any) -> bool:
    """Discord's ``^[-_\\p{L}\\p{N}]{1,32}$``, lowercase where the letter has a lowercase form."""
    if not isinstance(name, str) or not 1 <= len(name) <= 32:
        return False
    for ch in name:
        if ch in "-_":
            continue
        cat = unicodedata.category(ch)
        if not (cat.startswith("L") or cat.startswith("N")):
            return False
    return name == name.lower()


def _check_text(
    errors: Errors, path: list[str], value: Any, low: int, high: int, required: bool = True
) -> None:
    if value is None:
        if required:
            _set(errors, path, _err("BASE_TYPE_REQUIRED", "This field is required"))
        return
    if not isinstance(value, str):
        _set(errors, path, _err("BASE_TYPE_STRING", "Could not interpret value as string."))
        return
    if not low <= len(value) <= high:
        _set(
            errors,
            path,
            _err("BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length."),
        )


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and -INT_LIMIT < v < INT_LIMIT


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _check_options(errors: Errors, path: list[str], options: Any, depth: int) -> int:
    """Validate an options list; returns the characters it counts toward the 4,000."""
    if options is None:
        return 0
    if not isinstance(options, list):
        _set(errors, path, _err("BASE_TYPE_ARRAY", "Could not interpret value as array."))
        return 0
    if len(options) > MAX_OPTIONS:
        _set(errors, path, _err("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."))
    chars = 0
    seen: set[str] = set()
    optional_seen = False
    kinds = set()
    for n, opt in enumerate(options):
        p = [*path, str(n)]
        if not isinstance(opt, dict):
            _set(errors, p, _err("MODEL_TYPE_CONVERT", "Only dictionaries may be used."))
            continue
        otype: Any = opt.get("type")
        if not _is_int(otype) or not 1 <= otype <= 11:
            _set(errors, [*p, "type"], _err("BASE_TYPE_CHOICES", "Value must be one of (1..11)."))
            continue
        kinds.add(otype in (SUB_COMMAND, SUB_COMMAND_GROUP))
        name = opt.get("name")
        if not valid_chat_name(name):
            _set(
                errors,
                [*p, "name"],
                _err(
                    "APPLICATION_COMMAND_INVALID_NAME",
                    "Command name is invalid (1-32 lowercase letters, numbers, - or _)",
                ),
            )
        elif name in seen:
            _set(
                errors,
                [*p, "name"],
                _err(
                    "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", "Option name must be unique"
                ),
            )
        else:
            seen.add(str(name))
        _check_text(errors, [*p, "description"], opt.get("description"), 1, 100)
        chars += len(name or "") + len(opt.get("description") or "")
        if otype in (SUB_COMMAND, SUB_COMMAND_GROUP):
            # Groups hold subcommands; subcommands hold plain options; nesting stops at 2.
            if otype == SUB_COMMAND_GROUP and depth > 0 or otype == SUB_COMMAND and depth > 1:
                _set(
                    errors,
                    [*p, "type"],
                    _err(
                        "APPLICATION_COMMAND_SUBCOMMAND_NESTING",
                        "Sub-command groups must be at the top level and sub-commands at most "
                        "inside one group",
                    ),
                )
            subs = opt.get("options") or []
            if otype == SUB_COMMAND_GROUP and isinstance(subs, list):
                for k, sub in enumerate(subs):
                    if isinstance(sub, dict) and sub.get("type") != SUB_COMMAND:
                        _set(
                            errors,
                            [*p, "options", str(k), "type"],
                            _err(
                                "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
                                "A sub-command group may only hold sub-commands",
                            ),
                        )
            chars += _check_options(errors, [*p, "options"], subs, depth + 1)
            continue
        if opt.get("options"):
            _set(
                errors,
                [*p, "options"],
                _err("APPLICATION_COMMAND_OPTION_TYPE_INVALID", "Only sub-commands hold options"),
            )
        required = bool(opt.get("required", False))
        if required and optional_seen:
            _set(
                errors,
                [*p, "required"],
                _err(
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                ),
            )
        optional_seen = optional_seen or not required
        choices = opt.get("choices")
        if choices is not None:
            if otype not in CHOICE_TYPES:
                _set(
                    errors,
                    [*p, "choices"],
                    _err(
                        "APPLICATION_COMMAND_OPTION_CHOICES_INVALID",
                        "Only string, integer and number options have choices",
                    ),
                )
            elif not isinstance(choices, list):
                _set(
                    errors,
                    [*p, "choices"],
                    _err("BASE_TYPE_ARRAY", "Could not interpret value as array."),
                )
            else:
                if len(choices) > MAX_CHOICES:
                    _set(
                        errors,
                        [*p, "choices"],
                        _err("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."),
                    )
                if choices and opt.get("autocomplete"):
                    _set(
                        errors,
                        [*p, "autocomplete"],
                        _err(
                            "APPLICATION_COMMAND_AUTOCOMPLETE_CHOICES",
                            "Autocomplete can not be set when choices are present",
                        ),
                    )
                for k, choice in enumerate(choices):
                    chars += _check_choice(errors, [*p, "choices", str(k)], choice, otype)
        if opt.get("autocomplete") and otype not in CHOICE_TYPES:
            _set(
                errors,
                [*p, "autocomplete"],
                _err(
                    "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
                    "Only string, integer and number options autocomplete",
                ),
            )
        for key in ("min_value", "max_value"):
            if key in opt and opt[key] is not None:
                ok = otype in (INTEGER, NUMBER) and (
                    _is_int(opt[key]) if otype == INTEGER else _is_number(opt[key])
                )
                if not ok:
                    _set(
                        errors,
                        [*p, key],
                        _err("NUMBER_TYPE_COERCE", f"{key} needs an integer or number option"),
                    )
        for key in ("min_length", "max_length"):
            if key in opt and opt[key] is not None:
                v = opt[key]
                if (
                    otype != STRING
                    or not _is_int(v)
                    or not (0 if key == "min_length" else 1) <= v <= 6000
                ):
                    _set(
                        errors,
                        [*p, key],
                        _err("NUMBER_TYPE_MAX", f"{key} is 0-6000 on string options"),
                    )
    if len(kinds) > 1:
        _set(
            errors,
            path,
            _err(
                "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                "Sub-commands and groups can not be mixed with other options",
            ),
        )
    return chars


def _check_choice(errors: Errors, path: list[str], choice: Any, otype: int) -> int:
    if not isinstance(choice, dict):
        _set(errors, path, _err("MODEL_TYPE_CONVERT", "Only dictionaries may be used."))
        return 0
    _check_text(errors, [*path, "name"], choice.get("name"), 1, 100)
    value = choice.get("value")
    if otype == STRING:
        _check_text(errors, [*path, "value"], value, 1, 100)
    elif otype == INTEGER and not _is_int(value):
        _set(errors, [*path, "value"], _err("NUMBER_TYPE_COERCE", "Value is not an integer"))
    elif otype == NUMBER and not _is_number(value):
        _set(errors, [*path, "value"], _err("NUMBER_TYPE_COERCE", "Value is not a number"))
    return len(str(choice.get("name") or "")) + len(str(value if value is not None else ""))


def command_errors(cmd: Any) -> Errors:
    """Discord's validation of one command body; an empty dict when it is valid."""
    errors: Errors = {}
    if not isinstance(cmd, dict):
        return _err("MODEL_TYPE_CONVERT", "Only dictionaries may be used.")
    ctype = cmd.get("type", CHAT_INPUT)
    if ctype not in (CHAT_INPUT, USER, MESSAGE):
        _set(errors, ["type"], _err("BASE_TYPE_CHOICES", "Value must be one of (1, 2, 3)."))
        return errors
    name = cmd.get("name")
    if ctype == CHAT_INPUT:
        if not valid_chat_name(name):
            _set(
                errors,
                ["name"],
                _err(
                    "APPLICATION_COMMAND_INVALID_NAME",
                    "Command name is invalid (1-32 lowercase letters, numbers, - or _)",
                ),
            )
        _check_text(errors, ["description"], cmd.get("description"), 1, 100)
        chars = len(name or "") + len(cmd.get("description") or "")
        chars += _check_options(errors, ["options"], cmd.get("options"), 0)
        if chars > MAX_COMMAND_CHARS:
            _set(
                errors,
                [],
                _err("APPLICATION_COMMAND_TOO_LARGE", "Command exceeds maximum size (4000)"),
            )
    else:
        _check_text(errors, ["name"], name, 1, 32)
        if cmd.get("description"):
            _set(
                errors,
                ["description"],
                _err(
                    "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
                    "Context menu commands can not have a description",
                ),
            )
        if cmd.get("options"):
            _set(
                errors,
                ["options"],
                _err(
                    "APPLICATION_COMMAND_CONTEXT_MENU_OPTIONS",
                    "Context menu commands can not have options",
                ),
            )
    perms = cmd.get("default_member_permissions")
    if perms is not None and not (isinstance(perms, str) and perms.isdigit()):
        _set(
            errors,
            ["default_member_permissions"],
            _err("BASE_TYPE_STRING", "A permission bit string"),
        )
    return errors


def _normalize_options(options: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    out = []
    for opt in options or []:
        o = {k: v for k, v in opt.items() if k not in ("name_localized", "description_localized")}
        o.setdefault("name_localizations", None)
        o.setdefault("description_localizations", None)
        if o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP):
            o["options"] = _normalize_options(o.get("options"))
        elif o["type"] != SUB_COMMAND and "required" not in o:
            o["required"] = False
        out.append(o)
    return out


class CommandStore:
    """Every registered command: global, and per guild; plus the bulk-overwrite count."""

    def __init__(self, application_id: int, next_id: Callable[[], int]) -> None:
        self.application_id = application_id
        self._next_id = next_id
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        #: How many bulk overwrites (``PUT``) were made, global and guild alike.
        self.overwrites = 0
        #: Every write (create, edit, delete, bulk overwrite).
        self.writes = 0

    def scope(self, guild_id: int | None) -> list[dict[str, Any]]:
        """The command list of a scope (created empty for a guild)."""
        if guild_id is None:
            return self.global_commands
        return self.guild_commands.setdefault(guild_id, [])

    def build(
        self, body: dict[str, Any], guild_id: int | None, old: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The stored command object for a validated body (keeps the id of ``old``)."""
        ctype = body.get("type", CHAT_INPUT)
        cmd: dict[str, Any] = {
            "id": old["id"] if old else str(self._next_id()),
            "application_id": str(self.application_id),
            "version": str(self._next_id()),
            "type": ctype,
            "name": body["name"],
            "name_localizations": body.get("name_localizations"),
            "description": body.get("description") or "",
            "description_localizations": body.get("description_localizations"),
            "default_member_permissions": body.get("default_member_permissions"),
            "nsfw": bool(body.get("nsfw", False)),
            "integration_types": body.get("integration_types") or [0],
            "contexts": body.get("contexts"),
        }
        if guild_id is not None:
            cmd["guild_id"] = str(guild_id)
        else:
            cmd["dm_permission"] = body.get("dm_permission", True)
        if ctype == CHAT_INPUT:
            cmd["options"] = _normalize_options(body.get("options"))
        return cmd

    def find(self, guild_id: int | None, command_id: str) -> dict[str, Any] | None:
        """A command of a scope by id."""
        for cmd in self.scope(guild_id):
            if cmd["id"] == command_id:
                return cmd
        return None

    def lookup(self, guild_id: int | None, name: str, ctype: int) -> dict[str, Any] | None:
        """The command a user would see by that name: the guild's first, then global."""
        scopes = [self.guild_commands.get(guild_id, [])] if guild_id is not None else []
        scopes.append(self.global_commands)
        for commands in scopes:
            for cmd in commands:
                if cmd["name"] == name and cmd["type"] == ctype:
                    return cmd
        return None

    def snapshot(self) -> dict[str, Any]:
        """What ``GET {control}/commands`` answers."""
        return {
            "global": list(self.global_commands),
            "guilds": {str(g): list(c) for g, c in self.guild_commands.items() if c},
            "overwrites": self.overwrites,
            "writes": self.writes,
        }


def _limit_errors(commands: list[dict[str, Any]]) -> Errors:
    errors: Errors = {}
    for ctype, limit in COMMAND_LIMITS.items():
        if sum(1 for c in commands if c.get("type", CHAT_INPUT) == ctype) > limit:
            _set(
                errors,
                [],
                _err(
                    "APPLICATION_COMMANDS_TOO_MANY",
                    f"Maximum number of commands of type {ctype} reached ({limit})",
                ),
            )
    return errors


class CommandRoutes:
    """The REST handlers for application commands, bound to one sandbox."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self.store: CommandStore = sandbox.app_commands

    def routes(self) -> list[tuple[str, str, Any]]:
        """``(method, path, handler)`` for the REST table (bot-authenticated)."""
        base = "/applications/{app_id}"
        out: list[tuple[str, str, Any]] = []
        for scope in (base + "/commands", base + "/guilds/{guild_id}/commands"):
            out += [
                ("GET", scope, self.list),
                ("PUT", scope, self.overwrite),
                ("POST", scope, self.create),
                ("GET", scope + "/{command_id}", self.get),
                ("PATCH", scope + "/{command_id}", self.edit),
                ("DELETE", scope + "/{command_id}", self.delete),
            ]
        return out

    def _scope(self, request: web.Request) -> tuple[int | None, web.Response | None]:
        info = request.match_info
        if info["app_id"] != str(self.store.application_id):
            return None, error(403, "Missing Access", 50001)
        if "guild_id" not in info:
            return None, None
        try:
            gid = int(info["guild_id"])
        except ValueError:
            return None, error(404, "Unknown Guild", 10004)
        if self.sb.world.guild_index(gid) is None:
            return None, error(404, "Unknown Guild", 10004)
        return gid, None

    async def list(self, request: web.Request) -> web.Response:
        gid, bad = self._scope(request)
        return bad or json_response(self.store.scope(gid))

    async def get(self, request: web.Request) -> web.Response:
        gid, bad = self._scope(request)
        if bad:
            return bad
        cmd = self.store.find(gid, request.match_info["command_id"])
        if cmd is None:
            return error(404, "Unknown application command", 10063)
        return json_response(cmd)

    async def overwrite(self, request: web.Request) -> web.Response:
        gid, bad = self._scope(request)
        if bad:
            return bad
        body = await _json_body(request)
        if not isinstance(body, list):
            return invalid_form(_err("BASE_TYPE_ARRAY", "Could not interpret value as array."))
        errors: Errors = {}
        for n, cmd in enumerate(body):
            found = command_errors(cmd)
            if found:
                errors[str(n)] = found
        if not errors:
            errors = _limit_errors(body)
        if not errors:
            seen: set[tuple[int, str]] = set()
            for n, cmd in enumerate(body):
                key = (cmd.get("type", CHAT_INPUT), cmd["name"])
                if key in seen:
                    _set(
                        errors,
                        [str(n), "name"],
                        _err(
                            "APPLICATION_COMMANDS_DUPLICATE_NAME",
                            f"Application command names must be unique: {cmd['name']}",
                        ),
                    )
                seen.add(key)
        if errors:
            return invalid_form(errors)
        # Discord keeps the id of a command whose (type, name) was already registered.
        old = {(c["type"], c["name"]): c for c in self.store.scope(gid)}
        new = [
            self.store.build(cmd, gid, old.get((cmd.get("type", CHAT_INPUT), cmd["name"])))
            for cmd in body
        ]
        self.store.scope(gid)[:] = new
        self.store.overwrites += 1
        self.store.writes += 1
        self._log(
            f"commands: bulk overwrite of {'guild ' + str(gid) if gid else 'global'} commands ({len(new)})"
        )
        return json_response(new)

    async def create(self, request: web.Request) -> web.Response:
        gid, bad = self._scope(request)
        if bad:
            return bad
        body = await _json_body(request)
        errors = command_errors(body)
        if errors:
            return invalid_form(errors)
        scope = self.store.scope(gid)
        ctype = body.get("type", CHAT_INPUT)
        for n, cmd in enumerate(scope):
            if cmd["type"] == ctype and cmd["name"] == body["name"]:
                scope[n] = self.store.build(body, gid, cmd)
                self.store.writes += 1
                return json_response(scope[n], 200)
        errors = _limit_errors([*scope, body])
        if errors:
            return invalid_form(errors)
        cmd = self.store.build(body, gid)
        scope.append(cmd)
        self.store.writes += 1
        self._log(f"commands: created /{cmd['name']} ({'guild ' + str(gid) if gid else 'global'})")
        return json_response(cmd, 201)

    async def edit(self, request: web.Request) -> web.Response:
        gid, bad = self._scope(request)
        if bad:
            return bad
        cmd = self.store.find(gid, request.match_info["command_id"])
        if cmd is None:
            return error(404, "Unknown application command", 10063)
        body = await _json_body(request)
        if not isinstance(body, dict):
            return invalid_form(_err("MODEL_TYPE_CONVERT", "Only dictionaries may be used."))
        merged = {**cmd, **body, "type": cmd["type"]}
        errors = command_errors(merged)
        if errors:
            return invalid_form(errors)
        scope = self.store.scope(gid)
        new = self.store.build(merged, gid, cmd)
        scope[scope.index(cmd)] = new
        self.store.writes += 1
        return json_response(new)

    async def delete(self, request: web.Request) -> web.Response:
        gid, bad = self._scope(request)
        if bad:
            return bad
        cmd = self.store.find(gid, request.match_info["command_id"])
        if cmd is None:
            return error(404, "Unknown application command", 10063)
        self.store.scope(gid).remove(cmd)
        self.store.writes += 1
        return web.Response(status=204)

    def _log(self, text: str) -> None:
        if self.sb.log.enabled:
            self.sb.log.line(text)
