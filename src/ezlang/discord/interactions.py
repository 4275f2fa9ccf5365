"""Interactions for EasyLang: routing to handlers, waiters, and the builtins' registration.

discord.py parses every INTERACTION_CREATE into a ``discord.Interaction`` and dispatches
``interaction``; the client routes it here (:func:`dispatch`). The :class:`Router` turns it into
an :class:`InteractionObject` and runs the EasyLang handler it belongs to:

- application commands by name (and subcommand path), autocomplete by option;
- components and modals by ``custom_id`` — an exact id, or a prefix ending in ``:`` (``"vote:"``
  matches ``"vote:42"``). Routing by id, not by objects in memory, is what keeps a button
  working after the bot restarted: the program registers ``on_button`` again on start;
- ``wait_for_component`` waiters first, for the "click within 30 s" flow;
- ``listen("interactionCreate", fn)`` sees every interaction.

Answers go through discord.py's ``InteractionResponse`` and ``followup`` webhook. A handler
that throws gets its error printed with the ``.ez`` position, and the user an ephemeral
"something went wrong" (``set_interaction_error_message``) — the bot lives on. Discord wants
the first answer within 3 seconds; a late one raises a DiscordError that says so and
suggests ``interaction_defer`` (:mod:`ezlang.discord.responses`).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import discord

from ezlang.discord import (
    checks,
    collectors,
    command_sync,
    commands,
    components,
    convert,
    embeds,
    responses,
)
from ezlang.discord.handlers import Handler, _arity
from ezlang.discord.interaction_object import InteractionObject, interaction_object
from ezlang.lang.asyncbridge import call_async
from ezlang.lang.errors import EzError, SourcePos
from ezlang.lang.registry import register
from ezlang.lang.values import to_repr

if TYPE_CHECKING:
    from ezlang.discord.runtime import BotRuntime

DEFAULT_ERROR_MESSAGE = "Something went wrong while handling this. The bot's owner can see why."
#: wait_for_component's timeout when none is given, in seconds.
DEFAULT_WAIT = 60.0


class Router:
    """A program's interaction routes, commands and waiters (one per :class:`BotRuntime`)."""

    def __init__(self, rt: BotRuntime) -> None:
        self.rt = rt
        self.commands = command_sync.CommandSet(rt)
        #: Command checks by command name (``ezlang.discord.checks``).
        self.checks = checks.CheckRegistry()
        #: on_button / on_select / on_modal: exact ids and ``prefix:`` ids, per kind.
        self.exact: dict[str, dict[str, Handler]] = {"button": {}, "select": {}, "modal": {}}
        self.prefixes: dict[str, list[tuple[str, Handler]]] = {
            "button": [],
            "select": [],
            "modal": [],
        }
        self.waiters: list[tuple[str, str | None, asyncio.Future[Any]]] = []
        self.error_message: str | None = DEFAULT_ERROR_MESSAGE

    def add_route(self, kind: str, custom_id: Any, fn: Any, what: str) -> None:
        if not isinstance(custom_id, str) or not custom_id:
            raise EzError("TypeError", f"{what}: the custom id must be a non-empty string")
        components.custom_id(custom_id, what)
        if not callable(fn):
            raise EzError("TypeError", f"{what}: the handler must be a function, not {to_repr(fn)}")
        handler = Handler(fn, _arity(fn))
        if custom_id.endswith(":"):
            routes = [r for r in self.prefixes[kind] if r[0] != custom_id]
            routes.append((custom_id, handler))
            routes.sort(key=lambda r: -len(r[0]))  # the longest prefix wins
            self.prefixes[kind] = routes
        else:
            self.exact[kind][custom_id] = handler
        self.rt.expect_bot_start()

    def declared(self) -> str:
        """What the program declared, in words (for "never called bot_start()")."""
        parts = []
        if self.commands.commands:
            parts.append("commands")
        if any(self.exact.values()) or any(self.prefixes.values()):
            parts.append("component handlers")
        return " and ".join(parts)

    def find_route(self, kind: str, custom_id: str) -> Handler | None:
        handler = self.exact[kind].get(custom_id)
        if handler is not None:
            return handler
        for prefix, h in self.prefixes[kind]:
            if custom_id.startswith(prefix):
                return h
        return None

    # ---- incoming --------------------------------------------------------------------------

    def dispatch(self, client: Any, interaction: discord.Interaction[Any]) -> None:
        rt = self.rt
        try:
            obj = interaction_object(client, interaction)
        except (KeyError, TypeError, ValueError) as exc:
            print(f"ezlang: could not read an interaction: {exc!r}", file=sys.stderr, flush=True)
            return
        if rt.handlers.get("interactionCreate"):
            rt.emit("interactionCreate", (obj,))
        kind = obj["type"]
        if kind in ("command", "user_command", "message_command"):
            handler = self._command_handler(obj)
            if handler is not None:
                label = _command_label(obj)
                path = [p for p in (obj["subcommand_group"], obj["subcommand"]) if p]
                gate = self.checks.for_command([obj["command"], *path])
                rt.spawn(self.run(handler, (obj,), obj, label, gate=gate))
            elif not rt.handlers.get("interactionCreate"):
                self._unhandled(f"the {_command_label(obj)}", "slash_command")
        elif kind == "autocomplete":
            self._autocomplete(obj)
        elif kind in ("button", "select", "modal"):
            if kind != "modal" and self._offer_waiters(obj):
                return
            collected = kind != "modal" and collectors.offer(rt, "interaction", obj, own=False)
            handler = self.find_route(kind, obj["custom_id"])
            if handler is not None:
                rt.spawn(self.run(handler, (obj,), obj, f"{kind} {obj['custom_id']!r}"))
            elif not collected and not rt.handlers.get("interactionCreate"):
                self._unhandled(f"a {kind} with custom id {obj['custom_id']!r}", f"on_{kind}")

    @staticmethod
    def _unhandled(what: str, builtin: str) -> None:
        print(
            f"ezlang: {what} was used, but no {builtin} handler matches it "
            "(the user sees 'This interaction failed')",
            file=sys.stderr,
            flush=True,
        )

    def _command_handler(self, obj: InteractionObject) -> Handler | None:
        kind = {"command": 1, "user_command": 2, "message_command": 3}[obj["type"]]
        cmd = self.commands.find(kind, obj["command"])
        if cmd is None:
            return None
        path = tuple(p for p in (obj["subcommand_group"], obj["subcommand"]) if p)
        fill = cmd.options.get(path)
        if fill:
            options = dict(obj["options"])
            for o in fill:
                options.setdefault(o["name"], None)
            dict.__setitem__(obj, "options", options)
        return cmd.handlers.get(path) or cmd.handlers.get(())

    def _autocomplete(self, obj: InteractionObject) -> None:
        cmd = self.commands.find(1, obj["command"])
        focused = obj["focused"] or {}
        path = tuple(p for p in (obj["subcommand_group"], obj["subcommand"]) if p)
        handler = None
        if cmd is not None:
            handler = cmd.autocomplete.get((path, str(focused.get("name"))))
        if handler is None:
            self.rt.spawn(responses.answer_autocomplete(obj, []))
            return
        self.rt.spawn(
            self.run(
                handler,
                (obj, focused.get("value")),
                obj,
                f"/{obj['command']} autocomplete",
                autocomplete=True,
            )
        )

    def _offer_waiters(self, obj: InteractionObject) -> bool:
        message = obj["message"]
        if message is None:
            return False
        user_id = obj["user"]["id"] if obj["user"] else None
        for entry in list(self.waiters):
            message_id, wanted_user, future = entry
            if message_id == message["id"] and (wanted_user is None or wanted_user == user_id):
                self.waiters.remove(entry)
                if not future.done():
                    future.set_result(obj)
                    return True
        return False

    async def run(
        self,
        handler: Handler,
        args: tuple[Any, ...],
        obj: InteractionObject,
        label: str,
        *,
        autocomplete: bool = False,
        gate: list[Any] | None = None,
    ) -> None:
        n = handler.nargs
        call_args = args if n is None or n >= len(args) else args[:n]
        try:
            # A failed check has answered the user; the handler does not run.
            if gate and not await checks.enforce(self.rt, gate, obj):
                return
            result = await call_async(handler.fn, *call_args)
            if autocomplete:
                try:
                    await responses.answer_autocomplete(obj, result)
                except EzError as exc:
                    # Raised after the handler returned: point at the handler itself.
                    exc.pos = exc.pos or _defined_at(handler.fn)
                    raise
        except Exception as exc:  # a user's mistake must not stop the bot
            self.rt.report_handler_error(exc, label)
            if not autocomplete:
                await self._tell_user(obj)

    async def _tell_user(self, obj: InteractionObject) -> None:
        """The ephemeral "something went wrong" after a handler failed (when still possible)."""
        text = self.error_message
        native = obj.native
        if not text or obj.expired:
            return
        try:
            if native.response.is_done():
                await native.followup.send(text, ephemeral=True)
            else:
                await native.response.send_message(text, ephemeral=True)
        except discord.HTTPException as exc:
            print(
                f"ezlang: could not tell the user about the error: {exc.status} {exc.text}",
                file=sys.stderr,
                flush=True,
            )


def _route_builtin(kind: str) -> Callable[[Any, Any], None]:
    def route(custom_id: Any, handler: Any) -> None:
        from ezlang.discord.runtime import runtime

        router(runtime()).add_route(kind, custom_id, handler, f"on_{kind}()")

    route.__name__ = f"on_{kind}"
    route.__doc__ = (
        f"Run ``handler(i)`` for a {kind} whose custom id is ``custom_id``, or starts with it "
        "when it ends in ``:``."
    )
    return route


async def wait_for_component(message: Any, options: Any = None) -> Any:
    """Pause until someone uses a button or menu on ``message``; the interaction, or null
    after ``{timeout}`` seconds (60 by default). ``{user}`` waits for that user only."""
    from ezlang.discord.runtime import runtime

    what = "wait_for_component()"
    rt = runtime()
    rt.require_client(what)
    if isinstance(message, dict) and "id" in message:
        message_id = str(convert.snowflake_arg(message["id"], what=what))
    else:
        message_id = str(convert.snowflake_arg(message, what=f"{what} message"))
    opts = components._options_obj(options, ("timeout", "user"), what)
    timeout = opts.get("timeout", DEFAULT_WAIT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise EzError("ValueError", f"{what}: timeout is a number of seconds above 0")
    user = opts.get("user")
    user_id = None
    if user is not None:
        user_id = str(
            convert.snowflake_arg(
                user["id"] if isinstance(user, dict) else user, what=f"{what} user"
            )
        )
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    r = router(rt)
    entry = (message_id, user_id, future)
    r.waiters.append(entry)
    try:
        return await asyncio.wait_for(future, timeout)
    except TimeoutError:
        return None
    finally:
        if entry in r.waiters:
            r.waiters.remove(entry)


def set_interaction_error_message(text: Any) -> None:
    """What a user sees (ephemeral) when a handler fails; null sends nothing."""
    from ezlang.discord.runtime import runtime

    if text is not None and (not isinstance(text, str) or not text.strip()):
        raise EzError("TypeError", "set_interaction_error_message() takes a text, or null for none")
    router(runtime()).error_message = text


def _command_label(obj: InteractionObject) -> str:
    """How an error names the command: ``/config set color``, ``user command 'Inspect'``."""
    if obj["type"] == "command":
        path = [obj["command"], obj["subcommand_group"], obj["subcommand"]]
        return "/" + " ".join(p for p in path if p) + " command"
    return f"{obj['type'].replace('_', ' ')} {obj['command']!r}"


def _defined_at(fn: Any) -> SourcePos | None:
    """Where an EasyLang function was written (its first line), for errors about its result."""
    code = getattr(fn, "__code__", None)
    if code is None or not str(code.co_filename).endswith(".ez"):
        return None
    return SourcePos(code.co_filename, code.co_firstlineno, 1)


# ---- wiring --------------------------------------------------------------------------------


def router(rt: BotRuntime) -> Router:
    """The runtime's router (made on first use)."""
    existing = getattr(rt, "interactions", None)
    if existing is None:
        existing = Router(rt)
        rt.interactions = existing
    return existing


def dispatch(rt: BotRuntime, client: Any, interaction: discord.Interaction[Any]) -> None:
    """The client's ``interaction`` event (from ``ezlang.discord.clients``)."""
    router(rt).dispatch(client, interaction)


def on_ready(rt: BotRuntime) -> None:
    """The client's first ready: sync the declared commands (one process per bot)."""
    r = getattr(rt, "interactions", None)
    if r is not None:
        r.commands.on_ready()


BUILTINS: dict[str, Callable[..., Any]] = {
    "interaction_reply": responses.interaction_reply,
    "interaction_defer": responses.interaction_defer,
    "interaction_followup": responses.interaction_followup,
    "interaction_edit": responses.interaction_edit,
    "interaction_delete": responses.interaction_delete,
    "interaction_update": responses.interaction_update,
    "show_modal": responses.show_modal,
    "get_modal_field": responses.get_modal_field,
    "get_modal_field_value": responses.get_modal_field,
    "reply_interaction": responses.reply_interaction,
    "on_button": _route_builtin("button"),
    "on_select": _route_builtin("select"),
    "on_modal": _route_builtin("modal"),
    "wait_for_component": wait_for_component,
    "set_interaction_error_message": set_interaction_error_message,
    **commands.BUILTINS,
    **checks.BUILTINS,
    **components.BUILTINS,
    **embeds.BUILTINS,
}

for _name, _fn in BUILTINS.items():
    register(_name, _fn)
