"""Discord's limits on message bodies, components, modals and autocomplete results.

Each ``*_errors`` function returns Discord's nested error object (empty when valid), so a
route answers ``400 {"code": 50035, "errors": …}`` with the field path of what is wrong.
https://discord.com/developers/docs/components/reference
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .commands import Errors, _err, _set

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_ROWS = 5
MAX_PER_ROW = 5
MAX_CUSTOM_ID = 100
MAX_CHOICES = 25
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_COMPONENTS_V2 = 1 << 15
# Component types
ACTION_ROW, BUTTON, STRING_SELECT, TEXT_INPUT = 1, 2, 3, 4
USER_SELECT, ROLE_SELECT, MENTIONABLE_SELECT, CHANNEL_SELECT = 5, 6, 7, 8
LABEL = 18
SELECTS = (STRING_SELECT, USER_SELECT, ROLE_SELECT, MENTIONABLE_SELECT, CHANNEL_SELECT)
LINK_STYLE, PREMIUM_STYLE = 5, 6


def _length(errors: Errors, path: list[str], value: Any, low: int, high: int) -> None:
    if value is None:
        if low > 0:
            _set(errors, path, _err("BASE_TYPE_REQUIRED", "This field is required"))
        return
    if not isinstance(value, str):
        _set(errors, path, _err("BASE_TYPE_STRING", "Could not interpret value as string."))
    elif not low <= len(value) <= high:
        _set(
            errors,
            path,
            _err("BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length."),
        )


def iter_components(components: Any) -> Iterator[dict[str, Any]]:
    """Every component of a message or modal, rows, labels and sections walked into."""
    if not isinstance(components, list):
        return
    for comp in components:
        if not isinstance(comp, dict):
            continue
        yield comp
        yield from iter_components(comp.get("components"))
        for key in ("component", "accessory"):
            if isinstance(comp.get(key), dict):
                yield from iter_components([comp[key]])


def find_component(components: Any, custom_id: str) -> dict[str, Any] | None:
    """The interactive component with ``custom_id``, or None."""
    for comp in iter_components(components):
        if comp.get("custom_id") == custom_id and comp.get("type") != ACTION_ROW:
            return comp
    return None


def embed_errors(errors: Errors, embeds: Any) -> None:
    """Discord's embed limits: 10 embeds, title 256, description 4,096, 25 fields, 6,000 in all."""
    if embeds is None:
        return
    if not isinstance(embeds, list):
        _set(errors, ["embeds"], _err("BASE_TYPE_ARRAY", "Could not interpret value as array."))
        return
    if len(embeds) > MAX_EMBEDS:
        _set(errors, ["embeds"], _err("BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length."))
    total = 0
    for n, embed in enumerate(embeds):
        p = ["embeds", str(n)]
        if not isinstance(embed, dict):
            _set(errors, p, _err("MODEL_TYPE_CONVERT", "Only dictionaries may be used."))
            continue
        for key, high in (("title", 256), ("description", 4096)):
            if embed.get(key) is not None:
                _length(errors, [*p, key], embed[key], 0, high)
                total += len(str(embed[key]))
        fields = embed.get("fields") or []
        if not isinstance(fields, list) or len(fields) > 25:
            _set(
                errors,
                [*p, "fields"],
                _err("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."),
            )
            fields = []
        for k, field in enumerate(fields):
            if not isinstance(field, dict):
                continue
            _length(errors, [*p, "fields", str(k), "name"], field.get("name"), 1, 256)
            _length(errors, [*p, "fields", str(k), "value"], field.get("value"), 1, 1024)
            total += len(str(field.get("name") or "")) + len(str(field.get("value") or ""))
        for key, sub, high in (("footer", "text", 2048), ("author", "name", 256)):
            part = embed.get(key)
            if isinstance(part, dict) and part.get(sub) is not None:
                _length(errors, [*p, key, sub], part[sub], 1, high)
                total += len(str(part[sub]))
    if total > 6000:
        _set(
            errors,
            ["embeds"],
            _err("MESSAGE_EMBEDS_TOO_LARGE", "Embed size exceeds maximum size of 6000"),
        )


def _button_errors(errors: Errors, p: list[str], comp: dict[str, Any]) -> None:
    style = comp.get("style")
    if style not in (1, 2, 3, 4, 5, 6):
        _set(errors, [*p, "style"], _err("BASE_TYPE_CHOICES", "Value must be one of (1..6)."))
        return
    if comp.get("label") is not None:
        _length(errors, [*p, "label"], comp["label"], 0, 80)
    if style == LINK_STYLE:
        if not comp.get("url"):
            _set(errors, [*p, "url"], _err("BASE_TYPE_REQUIRED", "A link button needs a url"))
        if comp.get("custom_id") is not None:
            _set(
                errors,
                [*p, "custom_id"],
                _err("COMPONENT_LINK_CUSTOM_ID", "A link button can not have a custom_id"),
            )
    elif style != PREMIUM_STYLE:
        _length(errors, [*p, "custom_id"], comp.get("custom_id"), 1, MAX_CUSTOM_ID)
        if comp.get("url") is not None:
            _set(errors, [*p, "url"], _err("COMPONENT_BUTTON_URL", "Only link buttons have a url"))


def _select_errors(errors: Errors, p: list[str], comp: dict[str, Any]) -> None:
    _length(errors, [*p, "custom_id"], comp.get("custom_id"), 1, MAX_CUSTOM_ID)
    if comp.get("placeholder") is not None:
        _length(errors, [*p, "placeholder"], comp["placeholder"], 0, 150)
    low, high = comp.get("min_values", 1), comp.get("max_values", 1)
    if not isinstance(low, int) or not 0 <= low <= 25:
        _set(errors, [*p, "min_values"], _err("NUMBER_TYPE_MAX", "Must be between 0 and 25."))
    if not isinstance(high, int) or not 1 <= high <= 25:
        _set(errors, [*p, "max_values"], _err("NUMBER_TYPE_MAX", "Must be between 1 and 25."))
    if comp.get("type") == STRING_SELECT:
        options = comp.get("options")
        if not isinstance(options, list) or not 1 <= len(options) <= 25:
            _set(
                errors,
                [*p, "options"],
                _err("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 25 in length."),
            )
            return
        seen: set[Any] = set()
        for k, opt in enumerate(options):
            if not isinstance(opt, dict):
                continue
            _length(errors, [*p, "options", str(k), "label"], opt.get("label"), 1, 100)
            _length(errors, [*p, "options", str(k), "value"], opt.get("value"), 1, 100)
            if opt.get("value") in seen:
                _set(
                    errors,
                    [*p, "options", str(k), "value"],
                    _err(
                        "SELECT_COMPONENT_OPTION_VALUE_DUPLICATED", "Option values must be unique"
                    ),
                )
            seen.add(opt.get("value"))
        if isinstance(high, int) and high > len(options):
            _set(
                errors,
                [*p, "max_values"],
                _err("NUMBER_TYPE_MAX", "max_values can not exceed the number of options"),
            )


def component_errors(errors: Errors, components: Any, flags: int = 0) -> None:
    """Rows of buttons and selects: ≤ 5 rows, ≤ 5 buttons a row, a select alone, ids ≤ 100."""
    if components is None:
        return
    if not isinstance(components, list):
        _set(errors, ["components"], _err("BASE_TYPE_ARRAY", "Could not interpret value as array."))
        return
    v2 = bool(flags & FLAG_COMPONENTS_V2)
    if not v2 and len(components) > MAX_ROWS:
        _set(errors, ["components"], _err("BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length."))
    ids: set[str] = set()
    for n, row in enumerate(components):
        p = ["components", str(n)]
        if not isinstance(row, dict):
            _set(errors, p, _err("MODEL_TYPE_CONVERT", "Only dictionaries may be used."))
            continue
        if row.get("type") != ACTION_ROW:
            if not v2:
                _set(
                    errors,
                    [*p, "type"],
                    _err("UNION_TYPE_CHOICES", "Top-level components must be action rows"),
                )
            continue
        children = row.get("components")
        if not isinstance(children, list) or not 1 <= len(children) <= MAX_PER_ROW:
            _set(
                errors,
                [*p, "components"],
                _err("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length."),
            )
            continue
        for k, comp in enumerate(children):
            cp = [*p, "components", str(k)]
            ctype = comp.get("type") if isinstance(comp, dict) else None
            if ctype == BUTTON:
                _button_errors(errors, cp, comp)  # type: ignore[arg-type]
            elif ctype in SELECTS:
                if len(children) > 1:
                    _set(
                        errors,
                        cp,
                        _err(
                            "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                            "A select menu must be alone in its row",
                        ),
                    )
                _select_errors(errors, cp, comp)  # type: ignore[arg-type]
            else:
                _set(
                    errors,
                    [*cp, "type"],
                    _err(
                        "COMPONENT_TYPE_INVALID", f"Component type {ctype} can not be in a message"
                    ),
                )
                continue
            cid = comp.get("custom_id")  # type: ignore[union-attr]
            if isinstance(cid, str):
                if cid in ids:
                    _set(
                        errors,
                        [*cp, "custom_id"],
                        _err(
                            "COMPONENT_CUSTOM_ID_DUPLICATED",
                            "Component custom id cannot be duplicated",
                        ),
                    )
                ids.add(cid)


def message_errors(body: dict[str, Any], *, require_content: bool = True) -> Errors:
    """Validate a message body (content, embeds, components) as Discord does."""
    errors: Errors = {}
    content = body.get("content")
    if content is not None:
        if not isinstance(content, str):
            _set(
                errors,
                ["content"],
                _err("BASE_TYPE_STRING", "Could not interpret value as string."),
            )
        elif len(content) > MAX_CONTENT:
            _set(
                errors,
                ["content"],
                _err("BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length."),
            )
    embed_errors(errors, body.get("embeds"))
    flags = body.get("flags") or 0
    if not isinstance(flags, int):
        _set(errors, ["flags"], _err("NUMBER_TYPE_COERCE", "Value is not an integer"))
        flags = 0
    component_errors(errors, body.get("components"), flags)
    return errors


def is_empty_message(body: dict[str, Any]) -> bool:
    """True when a new message would have nothing in it (Discord's 50006)."""
    return not (
        body.get("content")
        or body.get("embeds")
        or body.get("components")
        or body.get("attachments")
        or body.get("_files")
        or body.get("sticker_ids")
        or body.get("poll")
    )


def modal_errors(data: Any) -> Errors:
    """A modal (callback type 9): custom id ≤ 100, title ≤ 45, 1–5 text inputs or labels."""
    errors: Errors = {}
    if not isinstance(data, dict):
        return _err("MODEL_TYPE_CONVERT", "Only dictionaries may be used.")
    _length(errors, ["custom_id"], data.get("custom_id"), 1, MAX_CUSTOM_ID)
    _length(errors, ["title"], data.get("title"), 1, 45)
    rows = data.get("components")
    if not isinstance(rows, list) or not 1 <= len(rows) <= 5:
        _set(
            errors,
            ["components"],
            _err("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length."),
        )
        return errors
    for n, row in enumerate(rows):
        p = ["components", str(n)]
        rtype = row.get("type") if isinstance(row, dict) else None
        if rtype == ACTION_ROW:
            inner = row.get("components")  # type: ignore[union-attr]
            if not isinstance(inner, list) or len(inner) != 1:
                _set(
                    errors,
                    [*p, "components"],
                    _err("BASE_TYPE_BAD_LENGTH", "A modal row holds one input"),
                )
                continue
            comp, cp = inner[0], [*p, "components", "0"]
            if isinstance(comp, dict):
                _length(errors, [*cp, "label"], comp.get("label"), 1, 45)
        elif rtype == LABEL:
            _length(errors, [*p, "label"], row.get("label"), 1, 45)  # type: ignore[union-attr]
            comp, cp = row.get("component"), [*p, "component"]  # type: ignore[union-attr]
        elif rtype == 10:  # a text display
            continue
        else:
            _set(errors, [*p, "type"], _err("COMPONENT_TYPE_INVALID", "Modals hold rows or labels"))
            continue
        if not isinstance(comp, dict):
            _set(errors, cp, _err("MODEL_TYPE_CONVERT", "Only dictionaries may be used."))
            continue
        if comp.get("type") == TEXT_INPUT:
            _length(errors, [*cp, "custom_id"], comp.get("custom_id"), 1, MAX_CUSTOM_ID)
            if comp.get("style") not in (1, 2):
                _set(
                    errors,
                    [*cp, "style"],
                    _err("BASE_TYPE_CHOICES", "Value must be one of (1, 2)."),
                )
            for key, high in (("value", 4000), ("placeholder", 100)):
                if comp.get(key) is not None:
                    _length(errors, [*cp, key], comp[key], 0, high)
        elif comp.get("type") in SELECTS:
            _select_errors(errors, cp, comp)
        else:
            _set(errors, [*cp, "type"], _err("COMPONENT_TYPE_INVALID", "Not a modal input"))
    return errors


def choices_errors(data: Any) -> Errors:
    """Autocomplete results (callback type 8): at most 25 choices, names 1–100."""
    errors: Errors = {}
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list):
        _set(errors, ["choices"], _err("BASE_TYPE_REQUIRED", "This field is required"))
        return errors
    if len(choices) > MAX_CHOICES:
        _set(errors, ["choices"], _err("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."))
    for n, choice in enumerate(choices):
        if not isinstance(choice, dict):
            _set(
                errors,
                ["choices", str(n)],
                _err("MODEL_TYPE_CONVERT", "Only dictionaries may be used."),
            )
            continue
        _length(errors, ["choices", str(n), "name"], choice.get("name"), 1, 100)
        value = choice.get("value")
        if isinstance(value, str):
            _length(errors, ["choices", str(n), "value"], value, 1, 100)
        elif not isinstance(value, int | float) or isinstance(value, bool):
            _set(
                errors,
                ["choices", str(n), "value"],
                _err("BASE_TYPE_REQUIRED", "A string or number"),
            )
    return errors
