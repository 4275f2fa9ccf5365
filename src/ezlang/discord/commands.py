"""Application commands: ``slash_command``, ``user_command``, ``message_command``,
``on_autocomplete``, ``register_slash_command``, and syncing them with Discord.

Declarations become Discord's command JSON at once and are checked against Discord's rules
there (names, descriptions, option types, 25 choices …), so a mistake is reported at the line
of the declaration, before anything is sent.

Why not discord.py's ``app_commands.CommandTree``: it builds a command from a Python callback's
typed parameters (``async def echo(interaction, text: str)``), resolved from annotations at
class-definition time. EasyLang commands are data declared while the program runs, with
EasyLang functions as handlers; producing synthetic signatures for them would be more code
than the payloads themselves and would hide the option list from the user's errors. So the
payloads are built here, sent through discord.py's HTTP layer (``bulk_upsert_*_commands``)
and interactions arrive as discord.py's own ``discord.Interaction`` objects
(:mod:`ezlang.discord.interactions`), answered with its ``InteractionResponse``.

Syncing them with Discord (once per bot, only on change) is :mod:`ezlang.discord.command_sync`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ezlang.discord import convert
from ezlang.discord.handlers import Handler, _arity
from ezlang.discord.permission_names import bits_of
from ezlang.lang.errors import EzError
from ezlang.lang.values import to_repr

if TYPE_CHECKING:
    from ezlang.discord.command_sync import CommandSet
    from ezlang.discord.runtime import BotRuntime

#: Option types by the names EasyLang uses (Discord's numbers).
OPTION_TYPES = {
    "string": 3,
    "integer": 4,
    "boolean": 5,
    "user": 6,
    "channel": 7,
    "role": 8,
    "mentionable": 9,
    "number": 10,
    "attachment": 11,
}
SUBCOMMAND = 1
SUBCOMMAND_GROUP = 2
TYPE_NAMES = {v: k for k, v in OPTION_TYPES.items()}

CHAT_INPUT, USER, MESSAGE = 1, 2, 3
KIND_NAMES = {CHAT_INPUT: "slash command", USER: "user command", MESSAGE: "message command"}

NAME_MAX = 32
DESCRIPTION_MAX = 100
OPTIONS_MAX = 25
CHOICES_MAX = 25
CHOICE_TEXT_MAX = 100
SLASH_COMMANDS_MAX = 100
CONTEXT_COMMANDS_MAX = 5
STRING_LENGTH_MAX = 6000

_COMMAND_KEYS = ("options", "guild_only", "default_permissions", "subcommands", "nsfw", "checks")
_CONTEXT_KEYS = ("guild_only", "default_permissions", "nsfw", "checks")
_OPTION_KEYS = (
    "name",
    "type",
    "description",
    "required",
    "choices",
    "min",
    "max",
    "min_length",
    "max_length",
    "autocomplete",
    "channel_types",
)
_SUB_KEYS = ("name", "description", "options", "handler", "subcommands")


def _bad(what: str, message: str) -> EzError:
    return EzError("ValueError", f"{what}: {message}")


def check_name(name: Any, what: str, kind: int = CHAT_INPUT) -> str:
    """A command or option name as Discord accepts it."""
    if not isinstance(name, str) or not name:
        raise EzError(
            "TypeError", f"{what}: a name must be a non-empty string, not {to_repr(name)}"
        )
    if len(name) > NAME_MAX:
        raise _bad(what, f"the name {to_repr(name)} is {len(name)} characters; at most {NAME_MAX}")
    if kind == CHAT_INPUT:
        # Discord: ^[-_\p{L}\p{N}]{1,32}$, lowercase where the letter has a lowercase form.
        wrong = [c for c in name if not (c.isalnum() or c in "-_")]
        if wrong:
            raise _bad(
                what,
                f"the name {to_repr(name)} may hold only letters, digits, - and _ "
                f"(not {to_repr(wrong[0])}); e.g. {to_repr(_suggest(name))}",
            )
        if name != name.lower():
            raise _bad(what, f"slash command names are lowercase: {to_repr(name.lower())}")
    elif not name.strip():
        raise _bad(what, "the name cannot be blank")
    return name


def _suggest(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name.lower()).strip("-")[:32]


def check_description(text: Any, what: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise EzError(
            "TypeError", f"{what}: a description must be a non-empty string, not {to_repr(text)}"
        )
    if len(text) > DESCRIPTION_MAX:
        raise _bad(what, f"the description is {len(text)} characters; at most {DESCRIPTION_MAX}")
    return text


def _number(value: Any, what: str, name: str, integer: bool) -> int | float:
    if isinstance(value, float) and value.is_integer() and integer:
        value = int(value)
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok:
        kind = "a whole number" if integer else "a number"
        raise EzError("TypeError", f"{what}: {name} must be {kind}, not {to_repr(value)}")
    return value


def _option_type(value: Any, what: str) -> int:
    if isinstance(value, str) and value.lower() in OPTION_TYPES:
        return OPTION_TYPES[value.lower()]
    if isinstance(value, int) and not isinstance(value, bool) and value in TYPE_NAMES:
        return value
    raise _bad(
        what,
        f"unknown option type {to_repr(value)}; the types are {', '.join(OPTION_TYPES)}",
    )


def build_option(spec: Any, what: str) -> dict[str, Any]:
    """One option ``{name, type, description, required, choices, min, max, autocomplete}``
    as Discord's JSON, checked."""
    if not isinstance(spec, dict):
        raise EzError("TypeError", f"{what}: each option must be an object, not {to_repr(spec)}")
    unknown = sorted(set(spec) - set(_OPTION_KEYS))
    if unknown:
        raise _bad(
            what,
            f"unknown option field(s) {', '.join(unknown)}; an option has {', '.join(_OPTION_KEYS)}",
        )
    name = check_name(spec.get("name"), what)
    where = f"{what} option {to_repr(name)}"
    kind = _option_type(spec.get("type", "string"), where)
    out: dict[str, Any] = {
        "type": kind,
        "name": name,
        "description": check_description(spec.get("description", name), where),
    }
    if spec.get("required"):
        out["required"] = True
    numeric = kind in (4, 10)
    choices = spec.get("choices")
    if choices is not None:
        if kind not in (3, 4, 10):
            raise _bad(where, "choices are for string, integer and number options")
        if not isinstance(choices, list) or not choices:
            raise EzError("TypeError", f"{where}: choices must be a non-empty array")
        if len(choices) > CHOICES_MAX:
            raise _bad(
                where,
                f"{len(choices)} choices; Discord allows at most {CHOICES_MAX} "
                "(use autocomplete for longer lists)",
            )
        out["choices"] = [_choice(c, kind, where) for c in choices]
    if spec.get("autocomplete"):
        if kind not in (3, 4, 10):
            raise _bad(where, "autocomplete is for string, integer and number options")
        if choices is not None:
            raise _bad(where, "an option has either choices or autocomplete, not both")
        out["autocomplete"] = True
    for key, wire in (("min", "min_value"), ("max", "max_value")):
        if spec.get(key) is not None:
            if numeric:
                out[wire] = _number(spec[key], where, key, kind == 4)
            elif kind == 3:
                length = "min_length" if key == "min" else "max_length"
                out[length] = _length(spec[key], where, key)
            else:
                raise _bad(where, f"{key} is for integer, number and string options")
    for key in ("min_length", "max_length"):
        if spec.get(key) is not None:
            if kind != 3:
                raise _bad(where, f"{key} is for string options")
            out[key] = _length(spec[key], where, key)
    if out.get("min_value", float("-inf")) > out.get("max_value", float("inf")):
        raise _bad(where, "min is larger than max")
    if out.get("min_length", 0) > out.get("max_length", STRING_LENGTH_MAX):
        raise _bad(where, "min is longer than max")
    if spec.get("channel_types") is not None:
        from ezlang.discord.components import CHANNEL_TYPES

        types = spec["channel_types"]
        if kind != 7 or not isinstance(types, list) or any(t not in CHANNEL_TYPES for t in types):
            raise _bad(
                where, f"channel_types (channel options) is an array of {', '.join(CHANNEL_TYPES)}"
            )
        out["channel_types"] = sorted({CHANNEL_TYPES[t].value for t in types})
    return out


def _length(value: Any, what: str, name: str) -> int:
    n = _number(value, what, name, True)
    if not 0 <= n <= STRING_LENGTH_MAX:
        raise _bad(what, f"{name} must be from 0 to {STRING_LENGTH_MAX}")
    return int(n)


def _choice(value: Any, kind: int, what: str) -> dict[str, Any]:
    if isinstance(value, dict):
        if "name" not in value:
            raise EzError("TypeError", f"{what}: a choice is a value or {{name, value}}")
        name, raw = value["name"], value.get("value", value["name"])
    else:
        name, raw = value, value
    label = str(name) if not isinstance(name, float) or not name.is_integer() else str(int(name))
    if not label or len(label) > CHOICE_TEXT_MAX:
        raise _bad(what, f"a choice's name is 1 to {CHOICE_TEXT_MAX} characters ({to_repr(name)})")
    if kind == 3:
        if not isinstance(raw, str):
            raw = label if raw is name else str(raw)
        if len(raw) > CHOICE_TEXT_MAX:
            raise _bad(what, f"a choice's value is at most {CHOICE_TEXT_MAX} characters")
    else:
        raw = _number(raw, what, "a choice's value", kind == 4)
    return {"name": label, "value": raw}


def _check_options(options: list[dict[str, Any]], what: str) -> None:
    if len(options) > OPTIONS_MAX:
        raise _bad(what, f"{len(options)} options; a command has at most {OPTIONS_MAX}")
    names = [o["name"] for o in options]
    dup = [n for n in names if names.count(n) > 1]
    if dup:
        raise _bad(what, f"two options are named {to_repr(dup[0])}")
    seen_optional = False
    for o in options:
        if o["type"] in (SUBCOMMAND, SUBCOMMAND_GROUP):
            continue
        if o.get("required") and seen_optional:
            raise _bad(
                what,
                f"the required option {to_repr(o['name'])} comes after an optional one; "
                "Discord wants required options first",
            )
        seen_optional = seen_optional or not o.get("required")


@dataclass
class Command:
    """One declared command: its payload, its handlers and its autocompletes."""

    kind: int
    name: str
    payload: dict[str, Any]
    #: Handlers by subcommand path (``()`` is the command itself).
    handlers: dict[tuple[str, ...], Handler] = field(default_factory=dict)
    #: Declared options by subcommand path (to fill absent ones with null).
    options: dict[tuple[str, ...], list[dict[str, Any]]] = field(default_factory=dict)
    autocomplete: dict[tuple[tuple[str, ...], str], Handler] = field(default_factory=dict)


def _handler(fn: Any, what: str) -> Handler:
    if not callable(fn):
        raise EzError("TypeError", f"{what}: the handler must be a function, not {to_repr(fn)}")
    return Handler(fn, _arity(fn))


def _sub_options(spec: dict[str, Any], what: str) -> list[dict[str, Any]]:
    raw = spec.get("options")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise EzError("TypeError", f"{what}: options must be an array of option objects")
    options = [build_option(o, what) for o in raw]
    _check_options(options, what)
    return options


def _subcommands(
    cmd: Command, entries: Any, path: tuple[str, ...], what: str
) -> list[dict[str, Any]]:
    if not isinstance(entries, list) or not entries:
        raise EzError("TypeError", f"{what}: subcommands must be a non-empty array")
    result = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise EzError("TypeError", f"{what}: each subcommand must be an object")
        unknown = sorted(set(entry) - set(_SUB_KEYS))
        if unknown:
            raise _bad(what, f"unknown subcommand field(s) {', '.join(unknown)}")
        name = check_name(entry.get("name"), what)
        here = (*path, name)
        where = f"{what} subcommand {to_repr(' '.join(here))}"
        item: dict[str, Any] = {
            "name": name,
            "description": check_description(entry.get("description", name), where),
        }
        if entry.get("subcommands") is not None:
            if path:
                raise _bad(where, "groups hold subcommands, not further groups (2 levels at most)")
            if entry.get("options") is not None or entry.get("handler") is not None:
                raise _bad(where, "a group has subcommands, not options or a handler of its own")
            item["type"] = SUBCOMMAND_GROUP
            item["options"] = _subcommands(cmd, entry["subcommands"], here, where)
        else:
            item["type"] = SUBCOMMAND
            options = _sub_options(entry, where)
            if options:
                item["options"] = options
            cmd.options[here] = options
            if entry.get("handler") is not None:
                cmd.handlers[here] = _handler(entry["handler"], where)
        result.append(item)
    names = [r["name"] for r in result]
    if len(set(names)) != len(names) or len(result) > OPTIONS_MAX:
        raise _bad(what, "subcommand names must be unique, at most 25")
    return result


def declare_slash(name: Any, description: Any, options: Any, handler: Any) -> Command:
    """The :class:`Command` of ``slash_command(name, description, options?, handler)``."""
    what = "slash_command()"
    name = check_name(name, what)
    what = f"slash_command({to_repr(name)})"
    payload: dict[str, Any] = {
        "type": CHAT_INPUT,
        "name": name,
        "description": check_description(description, what),
    }
    cmd = Command(CHAT_INPUT, name, payload)
    if options is None:
        options = {}
    if isinstance(options, list):  # just the option list
        options = {"options": options}
    if not isinstance(options, dict):
        raise EzError("TypeError", f"{what}: the options must be an object, not {to_repr(options)}")
    unknown = sorted(set(options) - set(_COMMAND_KEYS))
    if unknown:
        raise _bad(
            what,
            f"unknown field(s) {', '.join(unknown)}; the options object has {', '.join(_COMMAND_KEYS)}",
        )
    if options.get("subcommands") is not None:
        if options.get("options") is not None:
            raise _bad(what, "a command has subcommands or options, not both")
        payload["options"] = _subcommands(cmd, options["subcommands"], (), what)
    else:
        opts = _sub_options(options, what)
        if opts:
            payload["options"] = opts
        cmd.options[()] = opts
    if handler is not None:
        cmd.handlers[()] = _handler(handler, what)
    elif not cmd.handlers:
        raise EzError("TypeError", f"{what} needs a handler function")
    _common(payload, options, what)
    return cmd


def _common(payload: dict[str, Any], options: dict[str, Any], what: str) -> None:
    if options.get("guild_only"):
        payload["contexts"] = [0]
    perms = options.get("default_permissions")
    if perms is not None:
        payload["default_member_permissions"] = permissions_value(perms, what)
    if options.get("nsfw"):
        payload["nsfw"] = True


def permissions_value(value: Any, what: str) -> str:
    """``"manage_guild"`` / ``["ban_members", "kick_members"]`` as Discord's bit string."""
    return str(bits_of(value, f"{what} default_permissions"))


def declare_context(kind: int, name: Any, handler: Any, options: Any) -> Command:
    what = "user_command()" if kind == USER else "message_command()"
    name = check_name(name, what, kind)
    cmd = Command(kind, name, {"type": kind, "name": name})
    cmd.handlers[()] = _handler(handler, what)
    if options is not None:
        if not isinstance(options, dict) or set(options) - set(_CONTEXT_KEYS):
            raise _bad(what, f"the options are {{{', '.join(_CONTEXT_KEYS)}}}")
        _common(cmd.payload, options, what)
    return cmd


def payload_from_data(data: Any, what: str) -> dict[str, Any]:
    """Command JSON from the older ``register_slash_command(client, guild_id, command_data)``."""
    if not isinstance(data, dict):
        raise EzError(
            "TypeError", f"{what}: command_data must be an object {{name, description, options}}"
        )
    kind = data.get("type", CHAT_INPUT)
    if kind in ("user", USER):
        return declare_context(USER, data.get("name"), lambda i: None, None).payload
    if kind in ("message", MESSAGE):
        return declare_context(MESSAGE, data.get("name"), lambda i: None, None).payload
    rest = {k: v for k, v in data.items() if k not in ("name", "description", "type")}
    return declare_slash(data.get("name"), data.get("description"), rest, lambda i: None).payload


def command_set(rt: BotRuntime) -> CommandSet:
    """The runtime's declared commands (``ezlang.discord.command_sync``)."""
    from ezlang.discord.interactions import router

    return router(rt).commands


# ---- builtins ------------------------------------------------------------------------------


def _add(cmd: Command, options: Any, what: str) -> None:
    """Declare ``cmd`` with the ``checks`` of its options (:mod:`ezlang.discord.checks`)."""
    from ezlang.discord.checks import registry
    from ezlang.discord.runtime import runtime

    rt = runtime()
    gate = options.get("checks") if isinstance(options, dict) else None
    checks = registry(rt)
    if gate is not None:
        for c in gate if isinstance(gate, list) else [gate]:
            checks.validate(c, what)
    command_set(rt).add(cmd)
    if gate is not None:
        checks.attach(cmd.name, gate, what)


def slash_command(name: Any, description: Any, options: Any = None, handler: Any = None) -> None:
    """``slash_command(name, description, handler)`` or ``slash_command(name, description,
    options, handler)``: ``/name`` runs ``handler(i)``."""
    if handler is None and callable(options):
        options, handler = None, options
    _add(declare_slash(name, description, options, handler), options, "slash_command()")


def user_command(name: Any, handler: Any, options: Any = None) -> None:
    """A context-menu command on users (Apps → name); ``i.target`` is the user."""
    _add(declare_context(USER, name, handler, options), options, "user_command()")


def message_command(name: Any, handler: Any, options: Any = None) -> None:
    """A context-menu command on messages; ``i.message`` is the message."""
    _add(declare_context(MESSAGE, name, handler, options), options, "message_command()")


#: Where the older EasyLang's command data may hold the handler.
_HANDLER_KEYS = ("handler", "execute", "callback", "run")


def register_command(command_data: Any) -> None:
    """The older EasyLang's form: ``{name, description, options, type?, handler?}`` declares a
    slash command (or, with ``type: "user"``/``"message"``, a context menu). Without a
    handler, answer it from ``listen("interactionCreate", fn)``."""
    what = "register_command()"
    if not isinstance(command_data, dict):
        raise EzError(
            "TypeError",
            f"{what}: command_data must be an object {{name, description, options, handler}}",
        )
    data = dict(command_data)
    handlers = [data.pop(k) for k in _HANDLER_KEYS if k in data]
    handler = next((h for h in handlers if h is not None), None)
    kind = data.pop("type", CHAT_INPUT)
    name = data.pop("name", None)
    fn = handler if handler is not None else (lambda i: None)
    if kind in ("user", USER, "message", MESSAGE):
        ctype = USER if kind in ("user", USER) else MESSAGE
        data.pop("description", None)  # context menus have none
        cmd = declare_context(ctype, name, fn, data or None)
    elif kind in ("slash", "chat_input", CHAT_INPUT):
        description = data.pop("description", None)
        cmd = declare_slash(name, description, data, fn)
    else:
        raise _bad(what, f'type is "slash", "user" or "message", not {to_repr(kind)}')
    if handler is None:  # answered by listen("interactionCreate", …), as register_slash_command
        cmd.handlers.pop((), None)
    _add(cmd, data, what)


def register_user_context_menu(name: Any, callback: Any) -> None:
    """The older EasyLang's name for ``user_command(name, handler)``."""
    _add(declare_context(USER, name, callback, None), None, "register_user_context_menu()")


def register_message_context_menu(name: Any, callback: Any) -> None:
    """The older EasyLang's name for ``message_command(name, handler)``."""
    _add(declare_context(MESSAGE, name, callback, None), None, "register_message_context_menu()")


def on_autocomplete(command: Any, option: Any, handler: Any) -> None:
    """``handler(i, typed)`` returns up to 25 suggestions for ``option`` of ``command``
    (``"name"`` or ``"name sub"`` for a subcommand); the option needs ``autocomplete: true``."""
    from ezlang.discord.runtime import runtime

    what = "on_autocomplete()"
    if not isinstance(command, str) or not command.strip():
        raise EzError("TypeError", f'{what}: the command is its name, e.g. "search"')
    path = command.strip().lstrip("/").split()
    cmd = command_set(runtime()).find(CHAT_INPUT, path[0])
    if cmd is None:
        raise _bad(what, f"no slash command {to_repr(path[0])} was declared (declare it first)")
    sub = tuple(path[1:])
    declared = cmd.options.get(sub)
    if declared is None:
        raise _bad(what, f"/{path[0]} has no subcommand {to_repr(' '.join(sub))}")
    match = next((o for o in declared if o["name"] == option), None)
    if match is None:
        names = ", ".join(o["name"] for o in declared) or "none"
        raise _bad(
            what, f"/{' '.join(path)} has no option {to_repr(option)} (its options: {names})"
        )
    if not match.get("autocomplete"):
        raise _bad(
            what, f"the option {to_repr(option)} needs autocomplete: true in its declaration"
        )
    cmd.autocomplete[(sub, str(option))] = _handler(handler, what)


async def register_slash_command(client: Any, guild_id: Any, command_data: Any) -> None:
    """The older EasyLang's form: register one command now (global when guild_id is null);
    answer it with ``listen("interactionCreate", fn)``."""
    from ezlang.discord.runtime import runtime

    what = "register_slash_command()"
    guild = None if guild_id is None else convert.snowflake_arg(guild_id, what=f"{what} guild_id")
    await command_set(runtime()).register_one(guild, payload_from_data(command_data, what), what)


def set_commands_guild(guild_id: Any) -> None:
    """Register the declared commands to one guild (instant updates while developing)."""
    from ezlang.discord.runtime import runtime

    cs = command_set(runtime())
    cs.guild = (
        None if guild_id is None else convert.snowflake_arg(guild_id, what="set_commands_guild()")
    )
    cs.schedule_sync()


BUILTINS: dict[str, Callable[..., Any]] = {
    "slash_command": slash_command,
    "user_command": user_command,
    "message_command": message_command,
    "on_autocomplete": on_autocomplete,
    "register_slash_command": register_slash_command,
    "register_command": register_command,
    "register_user_context_menu": register_user_context_menu,
    "register_message_context_menu": register_message_context_menu,
    "set_commands_guild": set_commands_guild,
}
