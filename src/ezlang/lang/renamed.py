"""The older TypeScript EasyLang's builtins that ezlang offers under another name or form.

A bot ported from it may still call, say, ``set_embed_color``; instead of a bare "not
defined", the NameError (from ``ezlang check`` and at run time) says what to write instead.
Only names ezlang does *not* define are listed: a name ezlang kept is simply that builtin.
"""

from __future__ import annotations

_EMBED_SETTERS = (
    "author",
    "color",
    "description",
    "footer",
    "image",
    "thumbnail",
    "timestamp",
    "title",
    "url",
)

#: old name → what ezlang offers instead (a phrase that completes "use …").
RENAMED: dict[str, str] = {
    **{f"set_embed_{part}": f"embed_set_{part}(embed, …)" for part in _EMBED_SETTERS},
    "add_embed_field": "embed_add_field(embed, name, value, inline?) (same arguments)",
    "add_embed_fields": "embed_add_field(embed, name, value, inline?) once per field, "
    "or create_embed({fields: [...]})",
    "create_embed_with_author": "create_embed({title, author: {name, icon_url}}) or "
    "embed_set_author(embed, name, icon_url?)",
    "create_embed_with_footer": "create_embed({title, footer: {text}}) or "
    "embed_set_footer(embed, text, icon_url?)",
    "create_embed_with_timestamp": "create_embed({...}) then embed_set_timestamp(embed)",
    "set_presence": "set_status(status, activity?, text?) and set_activity(name, type?, options?)",
    "set_streaming": 'set_activity(name, "streaming", {url: url})',
    "create_error": "error(message), which raises it, or throw {name, message, …} for an object",
    "format_error_message": "err.message (or str(err)) inside catch err { … }",
    "load_module": 'the import statement: import "file.ez" as name',
    "get_module": 'the import statement: import "file.ez" as name',
}


def renamed_hint(name: str) -> str | None:
    """The NameError message for an older EasyLang builtin ezlang renamed, else None."""
    advice = RENAMED.get(name)
    if advice is None:
        return None
    return f"'{name}' is the older EasyLang's name; in ezlang use {advice}"
