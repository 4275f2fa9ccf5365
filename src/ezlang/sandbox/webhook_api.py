"""Channel webhooks: create, list, get, edit, delete and execute — Discord's way.

Bot-authenticated (each needs MANAGE_WEBHOOKS in the channel, else 403 50013):
``POST|GET /channels/{id}/webhooks``, ``GET /guilds/{id}/webhooks``,
``GET|PATCH|DELETE /webhooks/{id}``. Token-authenticated (no ``Authorization``; a wrong
token is 401 50027): ``GET|PATCH|DELETE /webhooks/{id}/{token}`` and the execute,
``POST /webhooks/{id}/{token}`` (``?wait=true`` returns the message, else 204). The message
appears in the channel with ``webhook_id`` and the given ``username``/``avatar_url`` (the
author's ``avatar`` is a hash, as on Discord) and is dispatched as MESSAGE_CREATE like any
other. Create, edit and delete send WEBHOOKS_UPDATE ``{guild_id, channel_id}`` (intent
GUILD_WEBHOOKS). Names are 1–80 characters without "clyde" or "discord" (50035); a channel
holds at most 15 webhooks (30007); 10015 Unknown Webhook.

Interaction follow-ups share the execute path (``/webhooks/{application id}/{token}``): an
id that is no channel webhook goes on to the interaction routes.
"""

from __future__ import annotations

import hashlib
import json
import random
import string
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .commands import Errors, _err, _set
from .components import is_empty_message, message_errors
from .poll_api import check_new_poll, new_poll
from .records import channel_allowed, guild_allowed, per_sandbox
from .rest import _message_body, error, json_response

if TYPE_CHECKING:
    from .core import Sandbox
    from .interaction_api import InteractionRoutes

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

INTENT_GUILD_WEBHOOKS = 1 << 5
MAX_WEBHOOKS_PER_CHANNEL = 15
MAX_NAME = 80
TOKEN_LENGTH = 68  # discord.py's from_url wants 60 or more of [A-Za-z0-9.-_]
_TOKEN_CHARS = string.ascii_letters + string.digits + "-_"


@dataclass
class WebhookStore:
    """The channel webhooks of one sandbox, by id (Discord's webhook objects, with token)."""

    hooks: dict[int, dict[str, Any]] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)


def store_of(sb: Sandbox) -> WebhookStore:
    """The webhooks of ``sb`` (created on first use)."""
    return per_sandbox(sb, WebhookStore, lambda: WebhookStore(rng=random.Random(sb.seed)))


def _avatar_hash(data: Any) -> str | None:
    """Discord stores an image and answers its hash; the sandbox hashes what it was given."""
    if not data:
        return None
    return hashlib.md5(str(data).encode(), usedforsecurity=False).hexdigest()


def _name_errors(name: Any, required: bool) -> Errors:
    errors: Errors = {}
    if name is None and not required:
        return errors
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME:
        _set(
            errors,
            ["name"],
            _err("BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {MAX_NAME} in length."),
        )
    else:
        for word in ("clyde", "discord"):
            if word in name.lower():
                _set(
                    errors,
                    ["name"],
                    _err("USERNAME_INVALID_CONTAINS", f'Username cannot contain "{word}"'),
                )
    return errors


def _public(hook: dict[str, Any], *, with_user: bool) -> dict[str, Any]:
    """The webhook object as a route answers it (a token route shows no ``user``)."""
    out = dict(hook)
    if not with_user:
        out.pop("user", None)
    return out


class WebhookRoutes:
    """The webhook routes of one sandbox."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self.world = sandbox.world
        self.store = store_of(sandbox)
        # GET {control}/guilds/{id}/state lists them (with tokens: the control API is the
        # sandbox owner's view).
        sandbox.server.state_sections["webhooks"] = self.webhooks_of_guild

    def routes(self) -> list[tuple[str, str, Any]]:
        """(method, path, handler) of the bot-authenticated routes."""
        return [
            ("POST", "/channels/{channel_id}/webhooks", self.create),
            ("GET", "/channels/{channel_id}/webhooks", self.channel_hooks),
            ("GET", "/guilds/{guild_id}/webhooks", self.guild_hooks),
            ("GET", "/webhooks/{webhook_id}", self.get),
            ("PATCH", "/webhooks/{webhook_id}", self.edit),
            ("DELETE", "/webhooks/{webhook_id}", self.delete),
        ]

    def add_token_routes(
        self, app: web.Application, prefix: str, interactions: InteractionRoutes
    ) -> None:
        """Register the token routes; an execute for an id that is no channel webhook goes
        to the interaction follow-up handler of the same path."""
        # The same name as the follow-up route's ({app_id}), which reads it; the pattern
        # differs (\d+) so aiohttp keeps the two resources apart and tries this one first.
        path = prefix + "/webhooks/{app_id:\\d+}/{token}"
        followup = interactions._wrap(interactions.followup)  # noqa: SLF001 - same path, one owner

        async def execute(request: web.Request) -> web.StreamResponse:
            if self._id(request) not in self.store.hooks:
                return await followup(request)
            self.sb.rest_requests += 1
            return await self.execute(request)

        def counted(handler: Handler) -> Handler:
            async def wrapped(request: web.Request) -> web.StreamResponse:
                self.sb.rest_requests += 1
                return await handler(request)

            return wrapped

        app.router.add_post(path, execute)
        app.router.add_get(path, counted(self.get_with_token))
        app.router.add_patch(path, counted(self.edit_with_token))
        app.router.add_delete(path, counted(self.delete_with_token))

    # ---- lookups -----------------------------------------------------------------------

    @staticmethod
    def _id(request: web.Request) -> int | None:
        info = request.match_info
        try:
            return int(info["webhook_id"] if "webhook_id" in info else info["app_id"])
        except ValueError:
            return None

    def _hook(self, request: web.Request) -> dict[str, Any] | web.Response:
        """The webhook of a bot-authenticated route, or 10015 / 50013."""
        hook = self.store.hooks.get(self._id(request) or 0)
        if hook is None:
            return error(404, "Unknown Webhook", 10015)
        if not self.sb.server.bot_may(int(hook["channel_id"]), "view_channel", "manage_webhooks"):
            return error(403, "Missing Permissions", 50013)
        return hook

    def _token_hook(self, request: web.Request) -> dict[str, Any] | web.Response:
        """The webhook of a token route, or 10015 / 401 50027."""
        hook = self.store.hooks.get(self._id(request) or 0)
        if hook is None:
            return error(404, "Unknown Webhook", 10015)
        if request.match_info["token"] != hook["token"]:
            return error(401, "Invalid Webhook Token", 50027)
        return hook

    def _channel(self, request: web.Request) -> int | web.Response:
        return channel_allowed(self.sb, request, "manage_webhooks")

    def webhooks_of_guild(self, guild_id: int) -> list[dict[str, Any]]:
        """Every webhook of a guild (with token), oldest first."""
        return [h for h in self.store.hooks.values() if h["guild_id"] == str(guild_id)]

    def _update_event(self, hook: dict[str, Any], channel_id: str | None = None) -> None:
        gid = int(hook["guild_id"])
        payload = {"guild_id": hook["guild_id"], "channel_id": channel_id or hook["channel_id"]}
        self.sb.server.emit(gid, "WEBHOOKS_UPDATE", payload, INTENT_GUILD_WEBHOOKS)

    # ---- bot-authenticated routes ------------------------------------------------------

    async def create(self, request: web.Request) -> web.Response:
        cid = self._channel(request)
        if isinstance(cid, web.Response):
            return cid
        try:
            body = json.loads(await request.read() or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return error(400, "Invalid Form Body", 50035)
        errors = _name_errors(body.get("name"), required=True)
        if errors:
            return error(400, "Invalid Form Body", 50035, errors=errors)
        if (
            sum(h["channel_id"] == str(cid) for h in self.store.hooks.values())
            >= MAX_WEBHOOKS_PER_CHANNEL
        ):
            return error(
                400, f"Maximum number of webhooks reached ({MAX_WEBHOOKS_PER_CHANNEL})", 30007
            )
        hid = self.sb.gateway.next_snowflake()
        token = "".join(self.store.rng.choice(_TOKEN_CHARS) for _ in range(TOKEN_LENGTH))
        hook = {
            "id": str(hid),
            "type": 1,
            "guild_id": str(cid >> 22 << 22),
            "channel_id": str(cid),
            "user": self.world.bot_user(),
            "name": body["name"],
            "avatar": _avatar_hash(body.get("avatar")),
            "token": token,
            "application_id": str(self.world.application_id),
        }
        self.store.hooks[hid] = hook
        self._update_event(hook)
        self.sb.log.line(f"webhook created: {hook['name']!r} in channel {cid}")
        return json_response(_public(hook, with_user=True))

    async def channel_hooks(self, request: web.Request) -> web.Response:
        cid = self._channel(request)
        if isinstance(cid, web.Response):
            return cid
        hooks = [h for h in self.store.hooks.values() if h["channel_id"] == str(cid)]
        return json_response([_public(h, with_user=True) for h in hooks])

    async def guild_hooks(self, request: web.Request) -> web.Response:
        gid = guild_allowed(self.sb, request, "manage_webhooks")
        if isinstance(gid, web.Response):
            return gid
        return json_response([_public(h, with_user=True) for h in self.webhooks_of_guild(gid)])

    async def get(self, request: web.Request) -> web.Response:
        hook = self._hook(request)
        if isinstance(hook, web.Response):
            return hook
        return json_response(_public(hook, with_user=True))

    async def edit(self, request: web.Request) -> web.Response:
        hook = self._hook(request)
        if isinstance(hook, web.Response):
            return hook
        return await self._apply_edit(request, hook, allow_move=True)

    async def delete(self, request: web.Request) -> web.Response:
        hook = self._hook(request)
        if isinstance(hook, web.Response):
            return hook
        return self._remove(hook)

    # ---- token routes ------------------------------------------------------------------

    async def get_with_token(self, request: web.Request) -> web.Response:
        hook = self._token_hook(request)
        if isinstance(hook, web.Response):
            return hook
        return json_response(_public(hook, with_user=False))

    async def edit_with_token(self, request: web.Request) -> web.Response:
        hook = self._token_hook(request)
        if isinstance(hook, web.Response):
            return hook
        return await self._apply_edit(request, hook, allow_move=False)

    async def delete_with_token(self, request: web.Request) -> web.Response:
        hook = self._token_hook(request)
        if isinstance(hook, web.Response):
            return hook
        return self._remove(hook)

    async def _apply_edit(
        self, request: web.Request, hook: dict[str, Any], *, allow_move: bool
    ) -> web.Response:
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return error(400, "Invalid Form Body", 50035)
        errors = _name_errors(body.get("name"), required=False)
        if errors:
            return error(400, "Invalid Form Body", 50035, errors=errors)
        old_channel = hook["channel_id"]
        target = body.get("channel_id") if allow_move else None
        if target is not None:
            try:
                cid = int(target)
            except (TypeError, ValueError):
                cid = 0
            # Discord moves a webhook only within its guild, to a channel the bot manages.
            if not self.world.is_text_channel(cid) or str(cid >> 22 << 22) != hook["guild_id"]:
                errors = {}
                _set(errors, ["channel_id"], _err("CHANNEL_INVALID", "Unknown channel"))
                return error(400, "Invalid Form Body", 50035, errors=errors)
            if not self.sb.server.bot_may(cid, "view_channel", "manage_webhooks"):
                return error(403, "Missing Permissions", 50013)
            hook["channel_id"] = str(cid)
        if body.get("name") is not None:
            hook["name"] = body["name"]
        if "avatar" in body:
            hook["avatar"] = _avatar_hash(body["avatar"])
        self._update_event(hook)
        if old_channel != hook["channel_id"]:
            self._update_event(hook, old_channel)
        self.sb.log.line(f"webhook edited: {hook['name']!r} ({hook['id']})")
        return json_response(_public(hook, with_user=allow_move))

    def _remove(self, hook: dict[str, Any]) -> web.Response:
        del self.store.hooks[int(hook["id"])]
        self._update_event(hook)
        self.sb.log.line(f"webhook deleted: {hook['name']!r} ({hook['id']})")
        return web.Response(status=204)

    # ---- execute -----------------------------------------------------------------------

    async def execute(self, request: web.Request) -> web.Response:
        hook = self._token_hook(request)
        if isinstance(hook, web.Response):
            return hook
        body = await _message_body(request)
        if not isinstance(body, dict):
            return error(400, "Invalid Form Body", 50035)
        errors = message_errors(body)
        for key in ("username", "avatar_url"):
            value = body.get(key)
            if value is not None and (not isinstance(value, str) or not value):
                _set(
                    errors, [key], _err("BASE_TYPE_STRING", "Could not interpret value as string.")
                )
        username = body.get("username")
        if isinstance(username, str) and username:
            bad = _name_errors(username, required=True).get("name")
            if bad:
                errors["username"] = bad
        if errors:
            return error(400, "Invalid Form Body", 50035, errors=errors)
        cid = int(hook["channel_id"])
        refusal = check_new_poll(self.sb, cid, body, by_bot=False)
        if refusal is not None:
            return refusal
        if is_empty_message(body):
            return error(400, "Cannot send an empty message", 50006)
        author = {
            "id": hook["id"],
            "username": body.get("username") or hook["name"],
            "avatar": _avatar_hash(body.get("avatar_url")) or hook["avatar"],
            "discriminator": "0000",
            "global_name": None,
            "bot": True,
        }
        overrides: dict[str, Any] = {"author": author, "webhook_id": hook["id"]}
        if body.get("poll") is not None:
            overrides["poll"] = new_poll(body["poll"])
        msg = self.sb.record_bot_message(cid, body, overrides)
        if request.query.get("wait", "").lower() in ("true", "1"):
            return json_response(msg)
        return web.Response(status=204)
