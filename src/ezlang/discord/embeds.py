"""Embeds: ``create_embed`` and the ``embed_*`` builders, checked against Discord's limits.

An embed is an ordinary EasyLang object in Discord's own JSON shape (``{title, description,
color, url, fields: [{name, value, inline}], footer: {text, icon_url}, author: {name, url,
icon_url}, image: {url}, thumbnail: {url}, timestamp}``), so a beginner can print it, change
a field, or write one by hand. ``create_embed`` accepts friendlier spellings (a footer or
author as a plain string, an image as a URL, a color as ``"#5865f2"`` or ``"blurple"``,
``timestamp: true`` for now) and turns them into that shape.

Discord refuses an embed over its limits with a 400 that names a JSON path; these builders
refuse it first, at the line of the EasyLang program that broke the limit. The older
EasyLang's ``create_embed(title, description, color)`` and the builder functions
(``embed_add_field(embed, name, value, inline)`` …) keep their names and argument order.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import discord

from ezlang.lang.errors import EzError
from ezlang.lang.values import EzObject, to_repr, to_str

# Discord's embed limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
AUTHOR_MAX = 256
TOTAL_MAX = 6000
#: Embeds in one message.
EMBEDS_PER_MESSAGE = 10

_KEYS = (
    "title",
    "description",
    "color",
    "colour",
    "url",
    "fields",
    "footer",
    "author",
    "image",
    "thumbnail",
    "timestamp",
    "type",
)

#: Named colors a beginner may write instead of a number (Discord's brand palette and basics).
COLORS = {
    "default": 0x000000,
    "white": 0xFFFFFF,
    "black": 0x000001,
    "red": 0xED4245,
    "green": 0x57F287,
    "blue": 0x3498DB,
    "yellow": 0xFEE75C,
    "orange": 0xE67E22,
    "purple": 0x9B59B6,
    "pink": 0xEB459E,
    "grey": 0x95A5A6,
    "gray": 0x95A5A6,
    "blurple": 0x5865F2,
    "gold": 0xF1C40F,
    "aqua": 0x1ABC9C,
}


def _error(what: str, message: str) -> EzError:
    return EzError("ValueError", f"{what}: {message}")


def _text(value: Any, limit: int, what: str, name: str) -> str:
    text = to_str(value)
    if len(text) > limit:
        raise _error(
            what,
            f"the embed {name} is {len(text)} characters long; Discord allows at most {limit}",
        )
    return text


def _url(value: Any, what: str, name: str) -> str:
    if isinstance(value, dict) and "url" in value:
        value = value["url"]
    if not isinstance(value, str) or not value.strip():
        raise EzError("TypeError", f"{what}: the embed {name} must be a URL string")
    url = value.strip()
    if not url.startswith(("http://", "https://", "attachment://")):
        raise _error(what, f"the embed {name} must start with https:// (got {to_repr(url)})")
    return url


def parse_color(value: Any, what: str) -> int:
    """A color as a number ``0xRRGGBB``, a ``"#rrggbb"`` string or a name (``"red"``)."""
    if isinstance(value, bool):
        raise EzError("TypeError", f'{what}: a color is a number or a string such as "#ff0000"')
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        if not 0 <= value <= 0xFFFFFF:
            raise _error(what, f"the color {value} is not between 0 and 0xFFFFFF (16777215)")
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in COLORS:
            return COLORS[text]
        digits = text[1:] if text.startswith("#") else text[2:] if text.startswith("0x") else ""
        if len(digits) == 6:
            try:
                return int(digits, 16)
            except ValueError:
                pass
        raise _error(
            what,
            f'unknown color {to_repr(value)}; write "#rrggbb", a number, or one of '
            + ", ".join(sorted(COLORS)),
        )
    raise EzError("TypeError", f"{what}: a color is a number or a string, not {to_repr(value)}")


def parse_timestamp(value: Any, what: str) -> str:
    """ISO 8601 text from ``true``/``"now"``/null (now), milliseconds, or an ISO string."""
    now = datetime.datetime.now(datetime.UTC)
    if value is None or value is True or (isinstance(value, str) and value.lower() == "now"):
        return now.isoformat()
    if isinstance(value, bool):
        raise EzError("TypeError", f"{what}: timestamp must be true, milliseconds or a date text")
    if isinstance(value, int | float):
        # Milliseconds, as time() returns them (the older EasyLang's convention).
        return datetime.datetime.fromtimestamp(value / 1000, tz=datetime.UTC).isoformat()
    if isinstance(value, str):
        parsed = discord.utils.parse_time(value.strip()) if value.strip() else None
        try:
            parsed = parsed or datetime.datetime.fromisoformat(value.strip())
        except ValueError:
            parsed = None
        if parsed is None:
            raise _error(what, f"cannot read the timestamp {to_repr(value)} (use ISO 8601 text)")
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=datetime.UTC)
        return parsed.isoformat()
    raise EzError("TypeError", f"{what}: timestamp must be true, milliseconds or a date text")


def _field(name: Any, value: Any, inline: Any, what: str) -> dict[str, Any]:
    if name is None or value is None:
        raise EzError("TypeError", f"{what}: an embed field needs a name and a value")
    name_text = _text(name, FIELD_NAME_MAX, what, "field name")
    value_text = _text(value, FIELD_VALUE_MAX, what, "field value")
    if not name_text.strip() or not value_text.strip():
        raise _error(what, "an embed field's name and value cannot be empty")
    return {"name": name_text, "value": value_text, "inline": bool(inline)}


def _footer(value: Any, what: str, icon: Any = None) -> dict[str, Any]:
    if isinstance(value, dict):
        icon = value.get("icon_url", value.get("iconURL", icon))
        value = value.get("text")
    if value is None:
        raise EzError("TypeError", f"{what}: the embed footer needs a text")
    footer: dict[str, Any] = {"text": _text(value, FOOTER_MAX, what, "footer")}
    if icon is not None:
        footer["icon_url"] = _url(icon, what, "footer icon")
    return footer


def _author(value: Any, what: str, icon: Any = None, url: Any = None) -> dict[str, Any]:
    if isinstance(value, dict):
        icon = value.get("icon_url", value.get("iconURL", icon))
        url = value.get("url", url)
        value = value.get("name")
    if value is None:
        raise EzError("TypeError", f"{what}: the embed author needs a name")
    author: dict[str, Any] = {"name": _text(value, AUTHOR_MAX, what, "author name")}
    if icon is not None:
        author["icon_url"] = _url(icon, what, "author icon")
    if url is not None:
        author["url"] = _url(url, what, "author url")
    return author


def create_embed(title_or_options: Any = None, description: Any = None, color: Any = None) -> Any:
    """``create_embed({title, description, color, url, fields, footer, author, image,
    thumbnail, timestamp})``, or the older ``create_embed(title, description, color)``."""
    what = "create_embed()"
    if isinstance(title_or_options, dict):
        if description is not None or color is not None:
            raise EzError(
                "ArgumentError",
                f"{what} takes one options object, or (title, description, color); not both",
            )
        return normalise(title_or_options, what)
    options: dict[str, Any] = {}
    if title_or_options is not None:
        options["title"] = title_or_options
    if description is not None:
        options["description"] = description
    if color is not None:
        options["color"] = color
    return normalise(options, what)


def normalise(source: dict[str, Any], what: str) -> dict[str, Any]:
    """An embed object in Discord's shape from the friendly form, checked against the limits."""
    unknown = sorted(set(source) - set(_KEYS))
    if unknown:
        raise _error(
            what,
            f"unknown embed field(s) {', '.join(unknown)}; an embed has "
            + ", ".join(k for k in _KEYS if k not in ("colour", "type")),
        )
    embed: dict[str, Any] = {}
    if source.get("title") is not None:
        embed["title"] = _text(source["title"], TITLE_MAX, what, "title")
    if source.get("description") is not None:
        embed["description"] = _text(source["description"], DESCRIPTION_MAX, what, "description")
    color = source.get("color", source.get("colour"))
    if color is not None:
        embed["color"] = parse_color(color, what)
    if source.get("url") is not None:
        embed["url"] = _url(source["url"], what, "url")
    fields = source.get("fields")
    if fields is not None:
        if not isinstance(fields, list):
            raise EzError("TypeError", f"{what}: fields must be an array of {{name, value}}")
        if len(fields) > FIELDS_MAX:
            raise _error(
                what, f"an embed has {len(fields)} fields; Discord allows at most {FIELDS_MAX}"
            )
        embed["fields"] = []
        for f in fields:
            if not isinstance(f, dict):
                raise EzError("TypeError", f"{what}: each field must be an object {{name, value}}")
            embed["fields"].append(_field(f.get("name"), f.get("value"), f.get("inline"), what))
    if source.get("footer") is not None:
        embed["footer"] = _footer(source["footer"], what)
    if source.get("author") is not None:
        embed["author"] = _author(source["author"], what)
    for key in ("image", "thumbnail"):
        if source.get(key) is not None:
            embed[key] = {"url": _url(source[key], what, key)}
    stamp = source.get("timestamp")
    if stamp is not None and stamp is not False:
        embed["timestamp"] = parse_timestamp(stamp, what)
    check_total(embed, what)
    return embed


def total_length(embed: dict[str, Any]) -> int:
    """The characters Discord counts towards the 6,000 of an embed."""
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    for f in embed.get("fields") or ():
        total += len(f.get("name") or "") + len(f.get("value") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    return total


def check_total(embed: dict[str, Any], what: str) -> None:
    total = total_length(embed)
    if total > TOTAL_MAX:
        raise _error(
            what,
            f"the embed holds {total} characters in all (title, description, fields, footer "
            f"and author); Discord allows at most {TOTAL_MAX}",
        )


def to_discord(embeds: list[Any], what: str) -> list[discord.Embed]:
    """EasyLang embed objects as discord.py embeds, checked again (they may be hand-made)."""
    if len(embeds) > EMBEDS_PER_MESSAGE:
        raise _error(
            what, f"a message can carry at most {EMBEDS_PER_MESSAGE} embeds, not {len(embeds)}"
        )
    result = []
    total = 0
    for embed in embeds:
        if not isinstance(embed, dict):
            raise EzError("TypeError", f"{what}: each embed must be an object (see create_embed)")
        data = normalise(embed, what)
        total += total_length(data)
        result.append(discord.Embed.from_dict(data))
    if total > TOTAL_MAX:
        raise _error(
            what,
            f"the message's embeds hold {total} characters together; Discord allows at most "
            f"{TOTAL_MAX} over all embeds of one message",
        )
    return result


# ---- the older EasyLang's builders: change the embed and return it -------------------------


def _embed_arg(embed: Any, what: str) -> dict[str, Any]:
    # A Discord object (message, channel, …) is a dict too, but never an embed: setting a
    # "title" on a message would be a silent no-op for the user.
    if not isinstance(embed, dict) or isinstance(embed, EzObject):
        raise EzError(
            "TypeError", f"{what} needs an embed (from create_embed) first, not {to_repr(embed)}"
        )
    return embed


def embed_add_field(embed: Any, name: Any, value: Any, inline: Any = False) -> Any:
    """Add a field ``{name, value, inline}``; at most 25 fields."""
    what = "embed_add_field()"
    target = _embed_arg(embed, what)
    fields = target.setdefault("fields", [])
    if len(fields) >= FIELDS_MAX:
        raise _error(
            what,
            f"an embed can have at most {FIELDS_MAX} fields; this would be field {len(fields) + 1}",
        )
    fields.append(_field(name, value, inline, what))
    check_total(target, what)
    return target


def embed_set_footer(embed: Any, text: Any, icon_url: Any = None) -> Any:
    """Set the footer text (and icon)."""
    what = "embed_set_footer()"
    target = _embed_arg(embed, what)
    target["footer"] = _footer(text, what, icon_url)
    check_total(target, what)
    return target


def embed_set_author(embed: Any, name: Any, icon_url: Any = None, url: Any = None) -> Any:
    """Set the author line (name, icon, link)."""
    what = "embed_set_author()"
    target = _embed_arg(embed, what)
    target["author"] = _author(name, what, icon_url, url)
    check_total(target, what)
    return target


def _setter(key: str, convert: Callable[[Any, str], Any]) -> Callable[[Any, Any], Any]:
    def setter(embed: Any, value: Any) -> Any:
        what = f"embed_set_{key}()"
        target = _embed_arg(embed, what)
        target[key] = convert(value, what)
        check_total(target, what)
        return target

    setter.__name__ = f"embed_set_{key}"
    setter.__doc__ = f"Set the embed's {key}; returns the embed."
    return setter


embed_set_image = _setter("image", lambda v, w: {"url": _url(v, w, "image")})
embed_set_thumbnail = _setter("thumbnail", lambda v, w: {"url": _url(v, w, "thumbnail")})
embed_set_url = _setter("url", lambda v, w: _url(v, w, "url"))
embed_set_color = _setter("color", parse_color)
embed_set_title = _setter("title", lambda v, w: _text(v, TITLE_MAX, w, "title"))
embed_set_description = _setter(
    "description", lambda v, w: _text(v, DESCRIPTION_MAX, w, "description")
)


def embed_set_timestamp(embed: Any, timestamp: Any = None) -> Any:
    """Set the timestamp (now when none is given; milliseconds or ISO text otherwise)."""
    what = "embed_set_timestamp()"
    target = _embed_arg(embed, what)
    target["timestamp"] = parse_timestamp(timestamp, what)
    return target


BUILTINS: dict[str, Callable[..., Any]] = {
    "create_embed": create_embed,
    "embed_add_field": embed_add_field,
    "embed_set_footer": embed_set_footer,
    "embed_set_author": embed_set_author,
    "embed_set_image": embed_set_image,
    "embed_set_thumbnail": embed_set_thumbnail,
    "embed_set_timestamp": embed_set_timestamp,
    "embed_set_url": embed_set_url,
    "embed_set_color": embed_set_color,
    "embed_set_title": embed_set_title,
    "embed_set_description": embed_set_description,
}
