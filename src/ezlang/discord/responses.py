"""Answering interactions: ``interaction_reply``, ``interaction_defer``, ``interaction_followup``,
``interaction_edit``, ``interaction_delete``, ``interaction_update``, ``show_modal`` and
``get_modal_field`` — through discord.py's ``InteractionResponse`` and ``followup`` webhook.

Discord's own refusals become DiscordErrors that say what to do instead: a late first answer
(10062, past the 3 seconds) suggests ``interaction_defer``; a second first answer (40060)
suggests ``interaction_followup``/``interaction_edit``. Mistakes discord.py would only report
as ``InteractionResponded`` are caught before sending, with the same advice.
"""

from __future__ import annotations

import time
from typing import Any

import discord

from ezlang.discord import commands, components, convert, embeds
from ezlang.discord.interaction_object import InteractionObject
from ezlang.lang.errors import EzError
from ezlang.lang.values import to_repr, to_str

UNKNOWN_INTERACTION = 10062
ALREADY_ACKNOWLEDGED = 40060


def _interaction(value: Any, what: str) -> InteractionObject:
    if not isinstance(value, InteractionObject):
        raise EzError(
            "TypeError",
            f"{what} needs the interaction your handler received (its first argument), "
            f"not {to_repr(value)}",
        )
    return value


def _http_error(what: str, obj: InteractionObject, exc: discord.HTTPException) -> EzError:
    elapsed = time.monotonic() - obj.received
    if exc.code == UNKNOWN_INTERACTION:
        obj.expired = True
        return EzError(
            "DiscordError",
            f"{what}: too late — Discord wants the first answer to an interaction within 3 "
            f"seconds and this one came after {elapsed:.1f} s, so the user saw 'This interaction "
            "failed'. For slow work call interaction_defer(i) first, then interaction_edit or "
            "interaction_followup (error code 10062)",
        )
    if exc.code == ALREADY_ACKNOWLEDGED:
        return EzError(
            "DiscordError",
            f"{what}: this interaction was already answered; use interaction_followup(i, …) "
            "for another message or interaction_edit(i, …) to change the answer (error 40060)",
        )
    from ezlang.discord.runtime import rest_error

    return rest_error(what, exc)


_MESSAGE_KEYS = ("content", "embeds", "embed", "components", "ephemeral", "allowed_mentions")


def message_parts(content: Any, options: Any, what: str, *, edit: bool = False) -> dict[str, Any]:
    """discord.py keyword arguments from ``(content_or_options, options?)``."""
    merged: dict[str, Any] = {}
    if isinstance(content, dict):
        merged.update(content)
    elif content is not None:
        merged["content"] = content
    if options is not None:
        if isinstance(options, bool):  # the older reply_interaction(i, content, ephemeral)
            options = {"ephemeral": options}
        if not isinstance(options, dict):
            raise EzError(
                "TypeError", f"{what}: the options must be an object, not {to_repr(options)}"
            )
        merged.update(options)
    unknown = sorted(set(merged) - set(_MESSAGE_KEYS))
    if unknown:
        raise EzError(
            "ValueError",
            f"{what}: unknown field(s) {', '.join(unknown)}; a message has "
            + ", ".join(_MESSAGE_KEYS),
        )
    kwargs: dict[str, Any] = {}
    if merged.get("content") is not None:
        text = to_str(merged["content"])
        if len(text) > 2000:
            raise EzError(
                "ValueError", f"{what}: the content is {len(text)} characters; at most 2000"
            )
        kwargs["content"] = text
    elif edit and "content" in merged:
        kwargs["content"] = None
    embed_list = list(merged.get("embeds") or [])
    if merged.get("embed") is not None:
        embed_list.append(merged["embed"])
    if embed_list or (edit and "embeds" in merged):
        kwargs["embeds"] = embeds.to_discord(embed_list, what)
    if "components" in merged:
        comps = merged["components"]
        if comps:
            kwargs["view"] = components.view_of(comps, what)
        elif edit:
            kwargs["view"] = None
    if merged.get("allowed_mentions") is not None:
        kwargs["allowed_mentions"] = allowed_mentions(merged["allowed_mentions"], what)
    if merged.get("ephemeral"):
        kwargs["ephemeral"] = True
    if (
        not edit
        and not kwargs.get("content")
        and not kwargs.get("embeds")
        and not kwargs.get("view")
    ):
        raise EzError("ValueError", f"{what}: cannot send an empty message")
    return kwargs


def allowed_mentions(value: Any, what: str) -> discord.AllowedMentions:
    """``false``/``"none"`` (ping nobody), or ``{parse: [users, roles, everyone], users, roles,
    replied_user}``."""
    if value is False or value == "none":
        return discord.AllowedMentions.none()
    if value is True or value == "all":
        return discord.AllowedMentions.all()
    if not isinstance(value, dict):
        raise EzError("TypeError", f"{what}: allowed_mentions is false or {{parse, users, roles}}")
    parse = value.get("parse", [])
    mentions = discord.AllowedMentions.none()
    mentions.everyone = "everyone" in parse
    mentions.users = (
        "users" in parse or [discord.Object(int(u)) for u in value.get("users") or []] or False
    )
    mentions.roles = (
        "roles" in parse or [discord.Object(int(r)) for r in value.get("roles") or []] or False
    )
    mentions.replied_user = bool(value.get("replied_user", False))
    return mentions


def _message_result(message: Any) -> Any:
    if isinstance(message, discord.Message):
        return convert.message(message)
    return None


async def interaction_reply(i: Any, content: Any = None, options: Any = None) -> Any:
    """Answer with a message (``{content, embeds, components, ephemeral, allowed_mentions}``);
    returns the message sent."""
    what = "interaction_reply()"
    obj = _interaction(i, what)
    kwargs = message_parts(content, options, what)
    response = obj.native.response
    if response.is_done():
        raise EzError(
            "DiscordError",
            f"{what}: this interaction was already answered ({_done(obj)}); use "
            "interaction_followup(i, …) for another message or interaction_edit(i, …)",
        )
    _only(obj, ("command", "user_command", "message_command", "button", "select", "modal"), what)
    try:
        callback = await response.send_message(**kwargs)
    except discord.HTTPException as exc:
        raise _http_error(what, obj, exc) from None
    return _message_result(getattr(callback, "resource", None))


def _done(obj: InteractionObject) -> str:
    kind = obj.native.response.type
    names = {
        discord.InteractionResponseType.deferred_channel_message: "deferred with interaction_defer",
        discord.InteractionResponseType.deferred_message_update: "deferred with interaction_defer",
        discord.InteractionResponseType.modal: "with a modal",
        discord.InteractionResponseType.message_update: "with interaction_update",
    }
    return names.get(kind, "with interaction_reply") if kind is not None else "already"


def _only(obj: InteractionObject, kinds: tuple[str, ...], what: str) -> None:
    if obj["type"] not in kinds:
        raise EzError("DiscordError", f"{what} does not answer a {obj['type']} interaction")


async def interaction_defer(i: Any, options: Any = None) -> None:
    """Say "the bot is thinking" now and answer later (within 15 minutes) with
    ``interaction_edit`` or ``interaction_followup``. ``{ephemeral}``; for a button or menu the
    default acknowledges silently (``{thinking: true}`` shows "thinking" instead)."""
    what = "interaction_defer()"
    obj = _interaction(i, what)
    if isinstance(options, bool):
        options = {"ephemeral": options}
    opts = components._options_obj(options, ("ephemeral", "thinking"), what)
    if obj.native.response.is_done():
        raise EzError(
            "DiscordError", f"{what}: this interaction was already answered ({_done(obj)})"
        )
    _only(obj, ("command", "user_command", "message_command", "button", "select", "modal"), what)
    try:
        await obj.native.response.defer(
            ephemeral=bool(opts.get("ephemeral")), thinking=bool(opts.get("thinking"))
        )
    except discord.HTTPException as exc:
        raise _http_error(what, obj, exc) from None


async def interaction_followup(i: Any, content: Any = None, options: Any = None) -> Any:
    """Another message after the first answer; returns it."""
    what = "interaction_followup()"
    obj = _interaction(i, what)
    kwargs = message_parts(content, options, what)
    if not obj.native.response.is_done():
        raise EzError(
            "DiscordError",
            f"{what}: answer first (interaction_reply or interaction_defer); a follow-up comes after",
        )
    if "view" in kwargs and kwargs["view"] is None:
        del kwargs["view"]
    try:
        sent = await obj.native.followup.send(wait=True, **kwargs)
    except discord.HTTPException as exc:
        raise _http_error(what, obj, exc) from None
    return _message_result(sent)


async def interaction_edit(i: Any, content: Any = None, options: Any = None) -> Any:
    """Change the first answer (or, after a defer, give it); returns the message."""
    what = "interaction_edit()"
    obj = _interaction(i, what)
    kwargs = message_parts(content, options, what, edit=True)
    kwargs.pop("ephemeral", None)
    if not obj.native.response.is_done():
        raise EzError(
            "DiscordError",
            f"{what}: there is no answer to edit yet (interaction_reply or interaction_defer first)",
        )
    try:
        message = await obj.native.edit_original_response(**kwargs)
    except discord.HTTPException as exc:
        raise _http_error(what, obj, exc) from None
    return _message_result(message)


async def interaction_delete(i: Any) -> None:
    """Delete the first answer."""
    what = "interaction_delete()"
    obj = _interaction(i, what)
    try:
        await obj.native.delete_original_response()
    except discord.HTTPException as exc:
        raise _http_error(what, obj, exc) from None


async def interaction_update(i: Any, content: Any = None, options: Any = None) -> Any:
    """A button or menu changes the message it is on (new text, embeds, components)."""
    what = "interaction_update()"
    obj = _interaction(i, what)
    if obj["type"] not in ("button", "select", "modal") or obj["message"] is None:
        raise EzError(
            "DiscordError",
            f"{what} is for buttons and menus (it changes the message they are on); a command "
            "answers with interaction_reply",
        )
    kwargs = message_parts(content, options, what, edit=True)
    kwargs.pop("ephemeral", None)
    kwargs.pop("allowed_mentions", None)
    try:
        if obj.native.response.is_done():
            message = await obj.native.edit_original_response(**kwargs)
            return _message_result(message)
        callback = await obj.native.response.edit_message(**kwargs)
    except discord.HTTPException as exc:
        raise _http_error(what, obj, exc) from None
    return _message_result(getattr(callback, "resource", None))


async def show_modal(i: Any, modal: Any) -> None:
    """Open a form (``create_modal``); its answer arrives at ``on_modal(custom_id, fn)``."""
    what = "show_modal()"
    obj = _interaction(i, what)
    form = components.modal_of(modal, what)
    if obj["type"] in ("modal", "autocomplete"):
        raise EzError("DiscordError", f"{what}: a modal cannot answer a {obj['type']} interaction")
    if obj.native.response.is_done():
        raise EzError(
            "DiscordError",
            f"{what}: a modal must be the first answer, and this interaction was already "
            f"answered ({_done(obj)}); show the modal before anything else",
        )
    try:
        await obj.native.response.send_modal(form)
    except discord.HTTPException as exc:
        raise _http_error(what, obj, exc) from None


def get_modal_field(i: Any, custom_id: Any) -> Any:
    """The text the user typed in the modal's input ``custom_id``."""
    what = "get_modal_field()"
    obj = _interaction(i, what)
    if obj["type"] != "modal":
        raise EzError(
            "DiscordError", f"{what} reads a submitted modal, not a {obj['type']} interaction"
        )
    fields = obj["fields"]
    if custom_id not in fields:
        raise EzError(
            "ValueError",
            f"{what}: the modal has no field {to_repr(custom_id)}; its fields are "
            + (", ".join(fields) or "none"),
        )
    return fields[custom_id]


async def reply_interaction(i: Any, content: Any, ephemeral: Any = False) -> Any:
    """The older ``reply_interaction(interaction, content, ephemeral)``."""
    return await interaction_reply(i, content, {"ephemeral": bool(ephemeral)})


async def answer_autocomplete(obj: InteractionObject, result: Any) -> None:
    what = "on_autocomplete() handler"
    if result is None:
        result = []
    if not isinstance(result, list):
        raise EzError("TypeError", f"{what} must return an array of choices, not {to_repr(result)}")
    if len(result) > commands.CHOICES_MAX:
        raise EzError(
            "ValueError",
            f"{what} returned {len(result)} choices; Discord shows at most {commands.CHOICES_MAX} "
            "(return the best 25, e.g. slice(list, 0, 25))",
        )
    kind = obj.focused_type
    choices = [commands._choice(c, kind, what) for c in result]
    try:
        await obj.native.response.autocomplete(
            [discord.app_commands.Choice(name=c["name"], value=c["value"]) for c in choices]
        )
    except discord.HTTPException as exc:
        raise _http_error("autocomplete", obj, exc) from None
