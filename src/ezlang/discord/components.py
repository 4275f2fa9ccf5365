"""Message components and modals: buttons, link buttons, select menus, action rows, text inputs.

Like embeds, components are plain EasyLang objects (``{type: "button", style: "primary",
label, custom_id}``) that a beginner can print or build by hand; they become discord.py
``ui`` items only when a message is sent (:func:`view_of`, :func:`modal_of`), so discord.py
serialises them. The views are stopped before they are handed over: discord.py then keeps no
copy in its view store — clicks are routed by ``custom_id`` in
:mod:`ezlang.discord.interactions` (``on_button``), which is what keeps a button working after
the bot restarts.

Every builder checks Discord's limits at the line that breaks them: custom ids up to 100
characters, at most 5 action rows, 5 buttons per row, 25 select options.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import discord
from discord import ui

from ezlang.lang.errors import EzError
from ezlang.lang.values import to_repr, to_str

CUSTOM_ID_MAX = 100
ROWS_MAX = 5
BUTTONS_PER_ROW = 5
SELECT_OPTIONS_MAX = 25
BUTTON_LABEL_MAX = 80
OPTION_TEXT_MAX = 100
PLACEHOLDER_MAX = 150
MODAL_TITLE_MAX = 45
MODAL_INPUTS_MAX = 5
TEXT_INPUT_LABEL_MAX = 45
TEXT_INPUT_MAX = 4000

BUTTON_STYLES = {
    "primary": 1,
    "blurple": 1,
    "secondary": 2,
    "grey": 2,
    "gray": 2,
    "success": 3,
    "green": 3,
    "danger": 4,
    "red": 4,
    "link": 5,
}
SELECT_TYPES = {
    "string_select": ui.Select,
    "user_select": ui.UserSelect,
    "role_select": ui.RoleSelect,
    "channel_select": ui.ChannelSelect,
    "mentionable_select": ui.MentionableSelect,
}
CHANNEL_TYPES = {
    "text": discord.ChannelType.text,
    "voice": discord.ChannelType.voice,
    "category": discord.ChannelType.category,
    "news": discord.ChannelType.news,
    "announcement": discord.ChannelType.news,
    "stage": discord.ChannelType.stage_voice,
    "forum": discord.ChannelType.forum,
    "thread": discord.ChannelType.public_thread,
    "public_thread": discord.ChannelType.public_thread,
    "private_thread": discord.ChannelType.private_thread,
}
TEXT_STYLES = {"short": 1, "paragraph": 2, "long": 2}


def _limit(value: Any, limit: int, what: str, name: str) -> str:
    text = to_str(value)
    if len(text) > limit:
        raise EzError(
            "ValueError", f"{what}: the {name} is {len(text)} characters; Discord allows {limit}"
        )
    return text


def custom_id(value: Any, what: str) -> str:
    """A component's custom id: a non-empty string of at most 100 characters."""
    if not isinstance(value, str) or not value:
        raise EzError(
            "TypeError", f"{what}: the custom id must be a non-empty string, not {to_repr(value)}"
        )
    if len(value) > CUSTOM_ID_MAX:
        raise EzError(
            "ValueError",
            f"{what}: the custom id is {len(value)} characters long; Discord allows at most "
            f"{CUSTOM_ID_MAX} ({to_repr(value[:20])}…)",
        )
    return value


def _options_obj(options: Any, allowed: tuple[str, ...], what: str) -> dict[str, Any]:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise EzError("TypeError", f"{what}: the options must be an object, not {to_repr(options)}")
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise EzError(
            "ValueError",
            f"{what}: unknown option(s) {', '.join(unknown)}; the options are {', '.join(allowed)}",
        )
    return options


def _count(value: Any, low: int, high: int, what: str, name: str) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise EzError(
            "ValueError",
            f"{what}: {name} must be a whole number from {low} to {high}, not {to_repr(value)}",
        )
    return value


# ---- buttons -------------------------------------------------------------------------------


def create_button(
    label: Any, style: Any = "primary", custom_id_: Any = None, options: Any = None
) -> Any:
    """``create_button(label, style, custom_id, {emoji, disabled})``: style is primary,
    secondary, success or danger (a link button is ``create_link_button``)."""
    what = "create_button()"
    opts = _options_obj(options, ("emoji", "disabled"), what)
    if not isinstance(style, str) or style.lower() not in BUTTON_STYLES:
        raise EzError(
            "ValueError",
            f"{what}: unknown button style {to_repr(style)}; the styles are primary, secondary, "
            "success and danger",
        )
    if style.lower() == "link":
        raise EzError(
            "ValueError", f"{what}: a link button is made with create_link_button(label, url)"
        )
    button: dict[str, Any] = {
        "type": "button",
        "style": style.lower(),
        "label": _limit(label, BUTTON_LABEL_MAX, what, "button label"),
        "custom_id": custom_id(custom_id_, what),
        "disabled": bool(opts.get("disabled", False)),
    }
    if opts.get("emoji") is not None:
        button["emoji"] = to_str(opts["emoji"])
    return button


def create_link_button(label: Any, url: Any, options: Any = None) -> Any:
    """A button that opens ``url`` (no custom id: Discord sends no click for it)."""
    what = "create_link_button()"
    opts = _options_obj(options, ("emoji", "disabled"), what)
    if not isinstance(url, str) or not url.startswith(("http://", "https://", "discord://")):
        raise EzError("ValueError", f"{what}: the url must start with https://, not {to_repr(url)}")
    button: dict[str, Any] = {
        "type": "button",
        "style": "link",
        "label": _limit(label, BUTTON_LABEL_MAX, what, "button label"),
        "url": url,
        "disabled": bool(opts.get("disabled", False)),
    }
    if opts.get("emoji") is not None:
        button["emoji"] = to_str(opts["emoji"])
    return button


# ---- select menus --------------------------------------------------------------------------

_SELECT_OPTIONS = ("placeholder", "min", "max", "disabled", "channel_types")


def _select_option(item: Any, what: str) -> dict[str, Any]:
    if isinstance(item, str | int | float) and not isinstance(item, bool):
        text = to_str(item)
        return {"label": _limit(text, OPTION_TEXT_MAX, what, "option label"), "value": text}
    if not isinstance(item, dict) or item.get("label") is None:
        raise EzError(
            "TypeError",
            f"{what}: each choice is a string or {{label, value, description, emoji, default}}, "
            f"not {to_repr(item)}",
        )
    unknown = sorted(set(item) - {"label", "value", "description", "emoji", "default"})
    if unknown:
        raise EzError("ValueError", f"{what}: unknown choice field(s) {', '.join(unknown)}")
    label = _limit(item["label"], OPTION_TEXT_MAX, what, "option label")
    option: dict[str, Any] = {
        "label": label,
        "value": _limit(item.get("value", label), OPTION_TEXT_MAX, what, "option value"),
    }
    if item.get("description") is not None:
        option["description"] = _limit(
            item["description"], OPTION_TEXT_MAX, what, "option description"
        )
    if item.get("emoji") is not None:
        option["emoji"] = to_str(item["emoji"])
    if item.get("default"):
        option["default"] = True
    return option


def _select(kind: str, cid: Any, choices: Any, options: Any, what: str) -> dict[str, Any]:
    # The older EasyLang's order is (custom_id, placeholder, options): accept both.
    if isinstance(choices, str) and (options is None or isinstance(options, list)):
        choices, options = options, {"placeholder": choices}
    if kind != "string_select" and isinstance(choices, dict) and options is None:
        choices, options = None, choices
    opts = _options_obj(options, _SELECT_OPTIONS, what)
    select: dict[str, Any] = {"type": kind, "custom_id": custom_id(cid, what)}
    count = 0
    if kind == "string_select":
        if not isinstance(choices, list) or not choices:
            raise EzError("TypeError", f"{what} needs an array of choices (strings or objects)")
        if len(choices) > SELECT_OPTIONS_MAX:
            raise EzError(
                "ValueError",
                f"{what}: {len(choices)} choices; a select menu holds at most {SELECT_OPTIONS_MAX}",
            )
        select["options"] = [_select_option(c, what) for c in choices]
        values = [o["value"] for o in select["options"]]
        if len(set(values)) != len(values):
            raise EzError("ValueError", f"{what}: two choices have the same value")
        count = len(choices)
    elif choices is not None:
        raise EzError("TypeError", f"{what} takes (custom_id, placeholder) or (custom_id, options)")
    if opts.get("placeholder") is not None:
        select["placeholder"] = _limit(opts["placeholder"], PLACEHOLDER_MAX, what, "placeholder")
    high = min(SELECT_OPTIONS_MAX, count) if count else SELECT_OPTIONS_MAX
    low = _count(opts.get("min", 1), 0, high, what, "min")
    select["min_values"] = low
    select["max_values"] = _count(opts.get("max", max(low, 1)), max(low, 1), high, what, "max")
    select["disabled"] = bool(opts.get("disabled", False))
    if opts.get("channel_types") is not None:
        if kind != "channel_select":
            raise EzError("ValueError", f"{what}: channel_types is an option of channel selects")
        types = opts["channel_types"]
        if not isinstance(types, list) or any(t not in CHANNEL_TYPES for t in types):
            raise EzError(
                "ValueError", f"{what}: channel_types is an array of {', '.join(CHANNEL_TYPES)}"
            )
        select["channel_types"] = list(types)
    return select


def _select_builder(kind: str) -> Callable[..., Any]:
    def build(cid: Any, choices: Any = None, options: Any = None) -> Any:
        return _select(kind, cid, choices, options, f"create_{kind}()")

    build.__name__ = f"create_{kind}"
    build.__doc__ = (
        f"A {kind.replace('_', ' ')} menu: (custom_id, options) or (custom_id, placeholder)."
    )
    return build


def create_string_select(cid: Any, choices: Any = None, options: Any = None) -> Any:
    """``create_string_select(custom_id, choices, {placeholder, min, max})``; choices are
    strings or ``{label, value, description, emoji, default}`` (at most 25)."""
    return _select("string_select", cid, choices, options, "create_string_select()")


create_user_select = _select_builder("user_select")
create_role_select = _select_builder("role_select")
create_channel_select = _select_builder("channel_select")
create_mentionable_select = _select_builder("mentionable_select")


# ---- rows ----------------------------------------------------------------------------------


def _check_component(item: Any, what: str) -> dict[str, Any]:
    if not isinstance(item, dict) or item.get("type") not in ("button", *SELECT_TYPES):
        raise EzError(
            "TypeError",
            f"{what}: {to_repr(item)} is not a component (make one with create_button, "
            "create_string_select, …)",
        )
    return item


def create_action_row(*components: Any) -> Any:
    """A row of up to 5 buttons, or one select menu."""
    what = "create_action_row()"
    if len(components) == 1 and isinstance(components[0], list):
        components = tuple(components[0])
    items = [_check_component(c, what) for c in components]
    _check_row(items, what)
    return {"type": "action_row", "components": items}


def _check_row(items: list[dict[str, Any]], what: str) -> None:
    if not items:
        raise EzError("ValueError", f"{what}: an action row needs at least one component")
    selects = [c for c in items if c["type"] != "button"]
    if selects and len(items) > 1:
        raise EzError("ValueError", f"{what}: a select menu fills its action row on its own")
    if len(items) > BUTTONS_PER_ROW:
        raise EzError(
            "ValueError",
            f"{what}: {len(items)} buttons in one row; Discord allows at most {BUTTONS_PER_ROW}",
        )


def rows_of(components: Any, what: str) -> list[list[dict[str, Any]]]:
    """The rows of a message's ``components``: action rows, or loose components (buttons
    fill rows of 5, each select gets its own row)."""
    if isinstance(components, dict):
        components = [components]
    if not isinstance(components, list):
        raise EzError("TypeError", f"{what}: components must be an array of rows or components")
    rows: list[list[dict[str, Any]]] = []
    loose: list[dict[str, Any]] = []

    def flush() -> None:
        while loose:
            rows.append(loose[:BUTTONS_PER_ROW])
            del loose[:BUTTONS_PER_ROW]

    for item in components:
        if isinstance(item, dict) and item.get("type") == "action_row":
            flush()
            row = [_check_component(c, what) for c in item.get("components") or []]
            _check_row(row, what)
            rows.append(row)
        elif isinstance(item, dict) and item.get("type") in SELECT_TYPES:
            flush()
            rows.append([item])
        else:
            loose.append(_check_component(item, what))
    flush()
    if len(rows) > ROWS_MAX:
        raise EzError(
            "ValueError",
            f"{what}: {len(rows)} rows of components; a message holds at most {ROWS_MAX}",
        )
    ids = [c["custom_id"] for row in rows for c in row if c.get("custom_id")]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise EzError("ValueError", f"{what}: the custom id {to_repr(dup[0])} is used twice")
    return rows


def _emoji(value: Any) -> discord.PartialEmoji | None:
    return None if value is None else discord.PartialEmoji.from_str(to_str(value))


def _item(c: dict[str, Any], row: int, what: str) -> ui.Item[Any]:
    kind = c["type"]
    if kind == "button":
        style = BUTTON_STYLES.get(str(c.get("style", "primary")).lower())
        if style is None:
            raise EzError("ValueError", f"{what}: unknown button style {to_repr(c.get('style'))}")
        if style == 5:
            return ui.Button(
                style=discord.ButtonStyle.link,
                label=to_str(c.get("label", "")),
                url=to_str(c.get("url")),
                disabled=bool(c.get("disabled")),
                emoji=_emoji(c.get("emoji")),
                row=row,
            )
        return ui.Button(
            style=discord.ButtonStyle(style),
            label=to_str(c.get("label", "")),
            custom_id=custom_id(c.get("custom_id"), what),
            disabled=bool(c.get("disabled")),
            emoji=_emoji(c.get("emoji")),
            row=row,
        )
    common: dict[str, Any] = {
        "custom_id": custom_id(c.get("custom_id"), what),
        "placeholder": c.get("placeholder"),
        "min_values": int(c.get("min_values", 1)),
        "max_values": int(c.get("max_values", 1)),
        "disabled": bool(c.get("disabled")),
        "row": row,
    }
    if kind == "string_select":
        options = [
            discord.SelectOption(
                label=to_str(o["label"]),
                value=to_str(o.get("value", o["label"])),
                description=o.get("description"),
                emoji=_emoji(o.get("emoji")),
                default=bool(o.get("default")),
            )
            for o in c.get("options") or []
        ]
        return ui.Select(options=options, **common)
    if kind == "channel_select" and c.get("channel_types"):
        return ui.ChannelSelect(
            channel_types=[CHANNEL_TYPES[t] for t in c["channel_types"]], **common
        )
    cls: Any = SELECT_TYPES[kind]
    return cls(**common)


def view_of(components: Any, what: str) -> ui.View:
    """A discord.py view that serialises ``components``; stopped, so discord.py stores no copy
    (clicks are routed by custom id, see the module doc)."""
    view = ui.View(timeout=None)
    for index, row in enumerate(rows_of(components, what)):
        for c in row:
            view.add_item(_item(c, index, what))
    view.stop()
    return view


# ---- modals --------------------------------------------------------------------------------


def create_text_input(cid: Any, label: Any, style: Any = "short", options: Any = None) -> Any:
    """``create_text_input(custom_id, label, style, {required, min, max, placeholder, value})``;
    style is ``short`` (one line) or ``paragraph``. The older 4th argument ``required``
    (true/false) still works."""
    what = "create_text_input()"
    if isinstance(options, bool):
        options = {"required": options}
    opts = _options_obj(options, ("required", "min", "max", "placeholder", "value"), what)
    if style is None:
        style = "short"
    if not isinstance(style, str) or style.lower() not in TEXT_STYLES:
        raise EzError(
            "ValueError", f'{what}: the style is "short" or "paragraph", not {to_repr(style)}'
        )
    field: dict[str, Any] = {
        "type": "text_input",
        "custom_id": custom_id(cid, what),
        "label": _limit(label, TEXT_INPUT_LABEL_MAX, what, "label"),
        "style": "paragraph" if TEXT_STYLES[style.lower()] == 2 else "short",
        "required": bool(opts.get("required", True)),
    }
    if opts.get("min") is not None:
        field["min_length"] = _count(opts["min"], 0, TEXT_INPUT_MAX, what, "min")
    if opts.get("max") is not None:
        field["max_length"] = _count(opts["max"], 1, TEXT_INPUT_MAX, what, "max")
    if field.get("min_length", 0) > field.get("max_length", TEXT_INPUT_MAX):
        raise EzError("ValueError", f"{what}: min is larger than max")
    if opts.get("placeholder") is not None:
        field["placeholder"] = _limit(opts["placeholder"], OPTION_TEXT_MAX, what, "placeholder")
    if opts.get("value") is not None:
        field["value"] = _limit(opts["value"], TEXT_INPUT_MAX, what, "value")
    return field


def create_modal(cid: Any, title: Any, inputs: Any = None) -> Any:
    """``create_modal(custom_id, title, inputs)``: a form of up to 5 text inputs."""
    what = "create_modal()"
    modal = {
        "type": "modal",
        "custom_id": custom_id(cid, what),
        "title": _limit(title, MODAL_TITLE_MAX, what, "modal title"),
        "inputs": [],
    }
    if inputs is not None:
        if not isinstance(inputs, list):
            raise EzError("TypeError", f"{what}: inputs must be an array of create_text_input(…)")
        for field in inputs:
            _add_input(modal, field, what)
    return modal


def _add_input(modal: dict[str, Any], field: Any, what: str) -> None:
    if isinstance(field, dict) and field.get("type") == "action_row":
        for inner in field.get("components") or []:
            _add_input(modal, inner, what)
        return
    if not isinstance(field, dict) or field.get("type") != "text_input":
        raise EzError(
            "TypeError", f"{what}: {to_repr(field)} is not a text input (create_text_input)"
        )
    inputs = modal.setdefault("inputs", [])
    if len(inputs) >= MODAL_INPUTS_MAX:
        raise EzError("ValueError", f"{what}: a modal holds at most {MODAL_INPUTS_MAX} text inputs")
    if any(f["custom_id"] == field["custom_id"] for f in inputs):
        raise EzError(
            "ValueError", f"{what}: the custom id {to_repr(field['custom_id'])} is used twice"
        )
    inputs.append(field)


def add_modal_text_input(
    modal: Any,
    cid: Any,
    label: Any,
    style: Any = "short",
    placeholder: Any = None,
    required: Any = True,
    max_length: Any = None,
) -> Any:
    """The older EasyLang's ``add_modal_text_input(modal, custom_id, label, style,
    placeholder, required, max_length)``; returns the modal."""
    what = "add_modal_text_input()"
    if not isinstance(modal, dict) or modal.get("type") != "modal":
        raise EzError("TypeError", f"{what} needs a modal (from create_modal) first")
    options: dict[str, Any] = {"required": bool(required)}
    if placeholder is not None:
        options["placeholder"] = placeholder
    if max_length is not None:
        options["max"] = max_length
    _add_input(modal, create_text_input(cid, label, style, options), what)
    return modal


def modal_of(modal: Any, what: str) -> ui.Modal:
    """A discord.py modal for ``show_modal``."""
    if not isinstance(modal, dict) or modal.get("type") != "modal":
        raise EzError(
            "TypeError", f"{what} needs a modal (from create_modal), not {to_repr(modal)}"
        )
    inputs = modal.get("inputs") or []
    if not inputs:
        raise EzError("ValueError", f"{what}: the modal has no text inputs (create_text_input)")
    if len(inputs) > MODAL_INPUTS_MAX:
        raise EzError("ValueError", f"{what}: a modal holds at most {MODAL_INPUTS_MAX} text inputs")
    form = ui.Modal(
        title=_limit(modal.get("title", ""), MODAL_TITLE_MAX, what, "modal title"),
        custom_id=custom_id(modal.get("custom_id"), what),
        timeout=None,
    )
    for field in inputs:
        form.add_item(
            ui.TextInput(
                label=to_str(field["label"]),
                custom_id=custom_id(field.get("custom_id"), what),
                style=discord.TextStyle(TEXT_STYLES[field.get("style", "short")]),
                placeholder=field.get("placeholder"),
                default=field.get("value"),
                required=bool(field.get("required", True)),
                min_length=field.get("min_length"),
                max_length=field.get("max_length"),
            )
        )
    form.stop()
    return form


BUILTINS: dict[str, Callable[..., Any]] = {
    "create_button": create_button,
    "create_link_button": create_link_button,
    "create_string_select": create_string_select,
    "create_user_select": create_user_select,
    "create_role_select": create_role_select,
    "create_channel_select": create_channel_select,
    "create_mentionable_select": create_mentionable_select,
    "create_action_row": create_action_row,
    "create_text_input": create_text_input,
    "create_modal": create_modal,
    "add_modal_text_input": add_modal_text_input,
}
