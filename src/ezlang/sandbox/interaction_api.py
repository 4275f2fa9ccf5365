"""The bot's side of interactions (REST) and the user's side (control API).

REST, authenticated by the interaction token rather than the bot token, as on Discord:

- ``POST /interactions/{id}/{token}/callback`` (``?with_response=true`` answers the
  interaction callback object): the initial response, once, within the window;
- ``POST /webhooks/{app}/{token}`` follow-ups (``?wait=true`` returns the message);
- ``GET|PATCH|DELETE /webhooks/{app}/{token}/messages/@original`` and ``/messages/{id}``.

Errors are Discord's: 10062 Unknown interaction (unknown, or answered after the window),
40060 already acknowledged, 10015 Unknown Webhook (a token with no acknowledged
interaction behind it), 401 50027 Invalid Webhook Token (older than 15 minutes),
50035 with the field path, 50006 empty message.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .components import (
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    choices_errors,
    is_empty_message,
    message_errors,
    modal_errors,
)
from .interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    Interaction,
)
from .rest import _message_body, error, json_response

if TYPE_CHECKING:
    from .core import Sandbox

# Ephemeral and DM messages remembered at once (oldest forgotten first).
MAX_OUTSIDE_MESSAGES = 50_000
PONG, MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE, AUTOCOMPLETE_RESULT, MODAL = (
    1,
    4,
    5,
    6,
    7,
    8,
    9,
)
# Which callback types each interaction type accepts.
ALLOWED = {
    APPLICATION_COMMAND: {MESSAGE, DEFERRED_MESSAGE, MODAL},
    MESSAGE_COMPONENT: {MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE, MODAL},
    AUTOCOMPLETE: {AUTOCOMPLETE_RESULT},
    MODAL_SUBMIT: {MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE},
}
_TYPE_NAMES = {PONG: "PONG", MESSAGE: "a message", DEFERRED_MESSAGE: "a deferred message",
               DEFERRED_UPDATE: "a deferred update", UPDATE: "an update of the message",
               AUTOCOMPLETE_RESULT: "autocomplete choices", MODAL: "a modal"}  # fmt: skip


class DiscordError(Exception):
    """An error response as Discord sends it."""

    def __init__(self, status: int, message: str, code: int, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.extra = status, message, code, extra

    def response(self) -> web.Response:
        return error(self.status, self.message, self.code, **self.extra)


def _invalid(errors: dict[str, Any]) -> DiscordError:
    return DiscordError(400, "Invalid Form Body", 50035, errors=errors)


def _message_fields(body: dict[str, Any]) -> dict[str, Any]:
    return {
        k: body[k] for k in ("content", "embeds", "components", "allowed_mentions") if k in body
    }


class InteractionRoutes:
    """The REST routes and the response state machine."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self.store = sandbox.interactions

    def add_routes(self, app: web.Application, prefix: str) -> None:
        """Register the token-authenticated routes under ``prefix``."""
        r = app.router
        hook = prefix + "/webhooks/{app_id}/{token}"
        r.add_post(
            prefix + "/interactions/{interaction_id}/{token}/callback", self._wrap(self.callback)
        )
        r.add_post(hook, self._wrap(self.followup))
        for method in ("GET", "PATCH", "DELETE"):
            r.add_route(method, hook + "/messages/{message_id}", self._wrap(self.message))

    def _wrap(self, handler: Any) -> Any:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            self.sb.rest_requests += 1
            try:
                return await handler(request)
            except DiscordError as exc:
                return exc.response()

        return wrapped

    # ---- the initial response ----------------------------------------------------------

    async def callback(self, request: web.Request) -> web.StreamResponse:
        store = self.store
        try:
            inter = store.by_id.get(int(request.match_info["interaction_id"]))
        except ValueError:
            inter = None
        if inter is None or inter.token != request.match_info["token"]:
            raise DiscordError(404, "Unknown interaction", 10062)
        loop = asyncio.get_running_loop()
        if inter.state == "pending" and loop.time() - inter.dispatched_at > store.window:
            store._window_closed(inter)  # the timer may not have fired yet
        if inter.state == "failed":
            raise DiscordError(404, "Unknown interaction", 10062)
        if inter.state == "responded":
            raise DiscordError(400, "Interaction has already been acknowledged.", 40060)
        body = await _message_body(request)
        if not isinstance(body, dict):
            raise _invalid(
                {
                    "_errors": [
                        {"code": "MODEL_TYPE_CONVERT", "message": "Only dictionaries may be used."}
                    ]
                }
            )
        rtype = body.get("type")
        data = body.get("data") or {}
        if not isinstance(data, dict):
            raise _invalid(
                {
                    "data": {
                        "_errors": [
                            {
                                "code": "MODEL_TYPE_CONVERT",
                                "message": "Only dictionaries may be used.",
                            }
                        ]
                    }
                }
            )
        if "_files" in body:
            data["_files"] = body["_files"]
        if rtype not in ALLOWED[inter.type]:
            raise _invalid({"type": {"_errors": [{
                "code": "INTERACTION_RESPONSE_TYPE_INVALID",
                "message": f"Response type {rtype} is not valid for an interaction of type {inter.type}",
            }]}})  # fmt: skip
        if rtype in (DEFERRED_UPDATE, UPDATE) and inter.source_message is None:
            raise _invalid({"type": {"_errors": [{
                "code": "INTERACTION_RESPONSE_TYPE_INVALID",
                "message": "Only an interaction from a message component can update its message",
            }]}})  # fmt: skip
        if rtype in (MESSAGE, UPDATE):
            errors = message_errors(data)
            if errors:
                raise _invalid({"data": errors})
            if rtype == MESSAGE and is_empty_message(data):
                raise DiscordError(400, "Cannot send an empty message", 50006)
        elif rtype == AUTOCOMPLETE_RESULT:
            errors = choices_errors(data)
            if errors:
                raise _invalid({"data": errors})
        elif rtype == MODAL:
            errors = modal_errors(data)
            if errors:
                raise _invalid({"data": errors})
        # Accepted: the interaction is acknowledged from here on.
        inter.state = "responded"
        inter.responded_at = loop.time()
        if inter.timer is not None:
            inter.timer.cancel()
            inter.timer = None
        flags = int(data.get("flags") or 0)
        clean = {k: v for k, v in data.items() if k != "_files"}
        inter.response = {"type": rtype, "data": clean}
        if rtype == MESSAGE:
            inter.ephemeral = bool(flags & FLAG_EPHEMERAL)
            inter.original = self._create(inter, data, flags)
            inter.message_id = inter.original["id"]
        elif rtype == DEFERRED_MESSAGE:
            inter.ephemeral = bool(flags & FLAG_EPHEMERAL)
            inter.original = self._create(
                inter, {"content": ""}, (flags & FLAG_EPHEMERAL) | FLAG_LOADING
            )
            inter.message_id = inter.original["id"]
        elif rtype in (DEFERRED_UPDATE, UPDATE):
            source = inter.source_message
            assert source is not None
            if rtype == UPDATE:
                source = self._edit(source, _message_fields(data))
            inter.original = source
            inter.message_id = source["id"]
            inter.ephemeral = bool(int(source.get("flags") or 0) & FLAG_EPHEMERAL)
        elif rtype == MODAL:
            store.modals[(inter.user["id"], data["custom_id"])] = (data, inter)
            while len(store.modals) > MAX_OUTSIDE_MESSAGES:
                store.modals.popitem(last=False)
        inter.changed.set()
        store.log_response(inter, _TYPE_NAMES[rtype])
        if request.query.get("with_response") not in ("1", "true", "True"):
            return web.Response(status=204)
        callback: dict[str, Any] = {"id": str(inter.id), "type": inter.type}
        resource: dict[str, Any] = {"type": rtype}
        if rtype in (MESSAGE, DEFERRED_MESSAGE, UPDATE) and inter.original is not None:
            callback["response_message_id"] = inter.original["id"]
            callback["response_message_loading"] = rtype == DEFERRED_MESSAGE
            callback["response_message_ephemeral"] = inter.ephemeral
            resource["message"] = inter.original
        return json_response({"interaction": callback, "resource": resource})

    # ---- messages ----------------------------------------------------------------------

    def _create(self, inter: Interaction, body: dict[str, Any], flags: int) -> dict[str, Any]:
        """A message the interaction created: in the channel, or ephemeral (only its user)."""
        metadata: dict[str, Any] = {
            "id": str(inter.id),
            "type": inter.type,
            "user": inter.user,
            "authorizing_integration_owners": inter.payload.get(
                "authorizing_integration_owners", {}
            ),
        }
        if inter.type == APPLICATION_COMMAND:
            metadata["name"] = inter.name
        if inter.source_message is not None:
            metadata["interacted_message_id"] = inter.source_message["id"]
        if inter.original is not None:
            metadata["original_response_message_id"] = inter.original["id"]
        command = (
            inter.payload.get("data", {}).get("type") if inter.type == APPLICATION_COMMAND else None
        )
        extra = {
            "type": {1: 20, 2: 23, 3: 23}.get(command or 0, 19 if inter.source_message else 0),
            "webhook_id": str(self.sb.world.application_id),
            "application_id": str(self.sb.world.application_id),
            "interaction_metadata": metadata,
            "interaction": {"id": str(inter.id), "type": inter.type, "name": inter.name or "",
                            "user": inter.user},
            "flags": flags,
            "components": body.get("components") or [],
        }  # fmt: skip
        if extra["type"] == 19 and inter.source_message is not None:
            extra["message_reference"] = {"message_id": inter.source_message["id"],
                                          "channel_id": str(inter.channel_id)}  # fmt: skip
        if inter.guild_id is not None and not flags & FLAG_EPHEMERAL:
            return self.sb.record_bot_message(inter.channel_id, body, extra)
        # Ephemeral messages and DM replies live outside channel history (no MESSAGE_CREATE
        # to the guild's shard: nobody else can see them).
        mid = self.sb.gateway.next_snowflake()
        if inter.guild_id is not None:
            msg = self.sb.gateway.message_payload(
                mid,
                inter.channel_id,
                inter.guild_id,
                body.get("content") or "",
                self.sb.world.bot_user(),
            )
        else:
            msg = self.sb.gateway.message_payload(mid, inter.channel_id, 0, body.get("content") or "",
                                                  self.sb.world.bot_user())  # fmt: skip
            msg.pop("guild_id", None)
            msg.pop("member", None)
        msg["embeds"] = body.get("embeds") or []
        msg.update(extra)
        messages = self.store.messages
        messages[msg["id"]] = msg
        while len(messages) > MAX_OUTSIDE_MESSAGES:  # bounded, like channel history
            messages.popitem(last=False)
        return msg

    def _edit(self, msg: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """Edit a message an interaction owns (in the channel: MESSAGE_UPDATE)."""
        errors = message_errors(body)
        if errors:
            raise _invalid(errors)
        msg["flags"] = int(msg.get("flags") or 0) & ~FLAG_LOADING
        if msg["id"] in self.store.messages:
            for key in ("content", "embeds", "components"):
                if key in body:
                    msg[key] = body[key] or ("" if key == "content" else [])
            return msg
        edited = self.sb.edit_bot_message(int(msg["channel_id"]), msg["id"], body)
        if edited is None:
            raise DiscordError(404, "Unknown Message", 10008)
        return edited

    def _delete(self, msg: dict[str, Any]) -> None:
        if self.store.messages.pop(msg["id"], None) is None:
            if not self.sb.delete_message(int(msg["channel_id"]), msg["id"]):
                raise DiscordError(404, "Unknown Message", 10008)

    # ---- webhooks: follow-ups and @original --------------------------------------------

    def _by_token(self, request: web.Request) -> Interaction:
        if request.match_info["app_id"] != str(self.sb.world.application_id):
            raise DiscordError(404, "Unknown Webhook", 10015)
        inter = self.store.by_token.get(request.match_info["token"])
        if inter is None or inter.state == "failed":
            raise DiscordError(404, "Unknown Webhook", 10015)
        loop = asyncio.get_running_loop()
        if loop.time() - inter.dispatched_at > self.store.token_ttl:
            raise DiscordError(401, "Invalid Webhook Token", 50027)
        if inter.state != "responded":
            raise DiscordError(404, "Unknown Webhook", 10015)
        return inter

    async def followup(self, request: web.Request) -> web.StreamResponse:
        inter = self._by_token(request)
        body = await _message_body(request)
        if not isinstance(body, dict):
            raise _invalid(
                {
                    "_errors": [
                        {"code": "MODEL_TYPE_CONVERT", "message": "Only dictionaries may be used."}
                    ]
                }
            )
        errors = message_errors(body)
        if errors:
            raise _invalid(errors)
        if is_empty_message(body):
            raise DiscordError(400, "Cannot send an empty message", 50006)
        original = inter.original
        if (
            inter.response is not None
            and inter.response["type"] == DEFERRED_MESSAGE
            and original is not None
            and int(original.get("flags") or 0) & FLAG_LOADING
        ):
            # The first follow-up after a deferred message replaces its "thinking…" message.
            msg = self._edit(original, _message_fields(body))
        else:
            flags = int(body.get("flags") or 0) & FLAG_EPHEMERAL
            msg = self._create(inter, body, flags)
        inter.followups.append(msg)
        inter.changed.set()
        if self.sb.log.enabled:
            self.sb.log.line(
                f"interaction {inter.id}: follow-up {len(inter.followups)}: {msg.get('content')!r}"
            )
        if request.query.get("wait") in ("1", "true", "True"):
            return json_response(msg)
        return web.Response(status=204)

    def _owned(self, inter: Interaction, message_id: str) -> dict[str, Any]:
        if message_id == "@original":
            if inter.original is None:
                raise DiscordError(404, "Unknown Message", 10008)
            return inter.original
        for msg in inter.followups:
            if msg["id"] == message_id:
                return msg
        raise DiscordError(404, "Unknown Message", 10008)

    async def message(self, request: web.Request) -> web.StreamResponse:
        inter = self._by_token(request)
        msg = self._owned(inter, request.match_info["message_id"])
        if request.method == "GET":
            return json_response(msg)
        if request.method == "DELETE":
            self._delete(msg)
            if msg is inter.original:
                inter.original = None
            inter.followups = [m for m in inter.followups if m["id"] != msg["id"]]
            inter.changed.set()
            return web.Response(status=204)
        body = await _message_body(request)
        if not isinstance(body, dict):
            raise _invalid(
                {
                    "_errors": [
                        {"code": "MODEL_TYPE_CONVERT", "message": "Only dictionaries may be used."}
                    ]
                }
            )
        edited = self._edit(msg, _message_fields(body))
        if msg is inter.original:
            inter.original = edited
        inter.changed.set()
        return json_response(edited)


# ---- control API -------------------------------------------------------------------------


def control_routes(sandbox: Sandbox) -> list[tuple[str, str, Any]]:
    """``(method, path, handler)`` of the interaction routes under ``/_sandbox``."""

    async def interact(request: web.Request) -> web.Response:
        return json_response(await sandbox.interactions.interact(await _control_body(request)))

    async def get_interaction(request: web.Request) -> web.Response:
        q = request.query
        followups = _number(q.get("followups", "0"), "followups")
        wait = _number(q.get("wait", "0"), "wait")
        store = sandbox.interactions
        iid = request.match_info["interaction_id"]
        if wait > 0:
            return json_response(await store.wait(iid, int(followups), wait))
        return json_response(store.get(iid).summary())

    async def commands(request: web.Request) -> web.Response:
        return json_response(sandbox.app_commands.snapshot())

    return [
        ("POST", "/interactions", interact),
        ("GET", "/interactions/{interaction_id}", get_interaction),
        ("GET", "/commands", commands),
    ]


async def _control_body(request: web.Request) -> dict[str, Any]:
    from .core import SandboxError

    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        raise SandboxError("body must be JSON") from None
    if not isinstance(body, dict):
        raise SandboxError("body must be a JSON object")
    return body


def _number(value: str, name: str) -> float:
    from .core import SandboxError

    try:
        n = float(value)
    except ValueError:
        raise SandboxError(f"{name} must be a number") from None
    if n < 0:
        raise SandboxError(f"{name} must be 0 or more")
    return n


__all__ = ["DiscordError", "InteractionRoutes", "control_routes"]
