"""Editing a guild itself, Discord's way: ``PATCH /guilds/{id}`` (the bot, Manage Server)
and ``PATCH {control}/guilds/{id}`` (the owner renames it).

Both check the fields as Discord does (name 2–100 characters, ...: 400 50035 naming the
field), change the server model (:meth:`ServerModel.update_guild`: GET, GUILD_CREATE and
the control state show it) and dispatch GUILD_UPDATE (GUILDS) to the guild's shard.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import audit_log as audit
from .guild_api import GuildRoutes
from .rest import error, invalid_form, json_response
from .rest import json_body as _body
from .rest import missing_permissions as _missing

if TYPE_CHECKING:
    from .core import Sandbox

#: Discord's choices for the numeric fields of Modify Guild.
_CHOICES: dict[str, tuple[int, ...]] = {
    "verification_level": (0, 1, 2, 3, 4),
    "default_message_notifications": (0, 1),
    "explicit_content_filter": (0, 1, 2),
    "afk_timeout": (60, 300, 900, 1800, 3600),
}


class BadField(ValueError):
    """A field Discord refuses: ``field``, Discord's error ``code`` and its message."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.code, self.message = field, code, message


def guild_fields(body: dict[str, Any], guild_id: int, channels: list[int]) -> dict[str, Any]:
    """The guild fields of a Modify Guild body, checked (raises :class:`BadField`).
    ``channels``: the guild's text channels (for ``system_channel_id``). Unknown keys are
    ignored, as Discord ignores them."""
    out: dict[str, Any] = {}
    if "name" in body:
        name = body["name"]
        if not isinstance(name, str) or not 2 <= len(name) <= 100:
            raise BadField("name", "BASE_TYPE_BAD_LENGTH", "Must be between 2 and 100 in length.")
        out["name"] = name
    if "description" in body:
        text = body["description"]
        if text is not None and not isinstance(text, str):
            raise BadField("description", "BASE_TYPE_STRING", "Must be a string.")
        out["description"] = text or None
    if "icon" in body:
        icon = body["icon"]
        if icon is not None and (not isinstance(icon, str) or not icon.startswith("data:image/")):
            raise BadField(
                "icon", "IMAGE_INVALID", "Must be an image data URI (data:image/png;base64,…)."
            )
        # Discord stores the image and answers with its hash.
        out["icon"] = None if icon is None else hashlib.md5(icon.encode()).hexdigest()
    for key, choices in _CHOICES.items():
        if key in body:
            value = body[key]
            if isinstance(value, bool) or value not in choices:
                raise BadField(key, "BASE_TYPE_CHOICES", f"Value must be one of {choices}.")
            out[key] = value
    if "system_channel_id" in body:
        cid = body["system_channel_id"]
        if cid is not None and str(cid) not in {str(c) for c in channels}:
            raise BadField("system_channel_id", "CHANNEL_INVALID", "Unknown text channel.")
        out["system_channel_id"] = None if cid is None else str(cid)
    if "preferred_locale" in body:
        if not isinstance(body["preferred_locale"], str):
            raise BadField("preferred_locale", "BASE_TYPE_STRING", "Must be a string.")
        out["preferred_locale"] = body["preferred_locale"]
    if "premium_progress_bar_enabled" in body:
        out["premium_progress_bar_enabled"] = bool(body["premium_progress_bar_enabled"])
    return out


class GuildEditRoutes(GuildRoutes):
    """``PATCH /guilds/{id}``: Modify Guild."""

    def routes(self) -> list[tuple[str, str, Any]]:
        """``(method, path, handler)`` for ``RestApi`` to register."""
        return [("PATCH", "/guilds/{guild_id}", self.modify_guild)]

    async def modify_guild(self, request: web.Request) -> web.Response:
        state = self._state(request, edit=False)
        if state is None:
            return error(404, "Unknown Guild", 10004)
        body = await _body(request)
        if not isinstance(body, dict):
            return error(400, "Invalid Form Body", 50035)
        if not state.has(self.bot, "manage_guild"):
            return _missing()
        gid = state.guild_id
        try:
            fields = guild_fields(body, gid, self.sb.world.text_channel_ids(gid))
        except BadField as exc:
            return invalid_form(exc.field, exc.code, exc.message)
        before = self.model.guild_object(state)
        guild = self.model.update_guild(gid, fields)
        changes = [
            audit.change(k, before.get(k), v) for k, v in fields.items() if before.get(k) != v
        ]
        self._audit(request, self.model.edit(gid), audit.GUILD_UPDATE, gid, changes)
        return json_response(guild)


def control_route(sandbox: Sandbox) -> tuple[str, str, Any]:
    """``PATCH {control}/guilds/{id}`` ``{name, description?}``: the owner edits the guild."""
    from .core import SandboxError  # noqa: PLC0415 - core imports the modules of this package

    async def owner_edits(request: web.Request) -> web.Response:
        try:
            gid = int(request.match_info["guild_id"])
        except ValueError:
            gid = 0
        if sandbox.world.guild_index(gid) is None:
            raise SandboxError(f"unknown guild {request.match_info['guild_id']}")
        body = await _body(request)
        if not isinstance(body, dict) or not body.keys() & {"name", "description"}:
            raise SandboxError('body must be {"name": ..., "description": ...} (one or both)')
        unknown = body.keys() - {"name", "description"}
        if unknown:
            raise SandboxError(f"unknown field(s) {sorted(unknown)}: name and description only")
        try:
            fields = guild_fields(body, gid, [])
        except BadField as exc:
            raise SandboxError(str(exc)) from None
        return json_response(sandbox.server.update_guild(gid, fields))

    return ("PATCH", "/guilds/{guild_id}", owner_edits)
