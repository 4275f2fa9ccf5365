"""The control API of the server model: a user joins or leaves, the owner sets the bot's
role permissions, drags a role, boosts the server; a guild's state (docs/SANDBOX.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import permissions as perms
from .guild_api import _body
from .rest import json_response

if TYPE_CHECKING:
    from .core import Sandbox


def control_routes(sandbox: Sandbox) -> list[tuple[str, str, Any]]:
    """The control API of the server model: a user joins or leaves, the bot's role
    permissions, a guild's state. Errors raise ``SandboxError`` (the control API's 400/404)."""
    from .core import SandboxError  # noqa: PLC0415 - core imports the modules of this package

    model = sandbox.server
    world = sandbox.world

    def guild_id(value: Any) -> int:
        try:
            gid = int(value)
        except (TypeError, ValueError):
            raise SandboxError(f"guild_id must be a snowflake, got {value!r}") from None
        if world.guild_index(gid) is None:
            raise SandboxError(f"unknown guild {value}")
        return gid

    def user_id(value: Any) -> int:
        try:
            uid = int(value)
        except (TypeError, ValueError):
            raise SandboxError(f"user_id must be a snowflake, got {value!r}") from None
        if world.user(uid) is None:
            raise SandboxError(f"unknown user {value}")
        return uid

    async def body_of(request: web.Request) -> dict[str, Any]:
        body = await _body(request)
        if not isinstance(body, dict):
            raise SandboxError("body must be a JSON object")
        return body

    async def join(request: web.Request) -> web.Response:
        body = await body_of(request)
        gid = guild_id(body.get("guild_id"))
        if body.get("user_id") is not None:
            uid = user_id(body["user_id"])
        else:  # the first pool user who is neither a member nor banned
            state = model.view(gid)
            assert state is not None
            taken = state.members.keys() | state.bans.keys()
            free = (world.user_id(i) for i in range(world.user_pool))
            found = next((u for u in free if u not in taken), None)
            if found is None:
                raise SandboxError(f"every pool user is already in guild {gid}")
            uid = found
        try:
            member = model.add_member(gid, uid)
        except ValueError as exc:
            raise SandboxError(str(exc)) from None
        return json_response(member)

    async def leave(request: web.Request) -> web.Response:
        gid = guild_id(request.match_info["guild_id"])
        uid = user_id(request.match_info["user_id"])
        if not model.remove_member(gid, uid):
            raise SandboxError(f"unknown member {uid} in guild {gid}")
        return json_response({"removed": True})

    async def bot_permissions(request: web.Request) -> web.Response:
        gid = guild_id(request.match_info["guild_id"])
        names = (await body_of(request)).get("permissions")
        if not isinstance(names, list):
            raise SandboxError('permissions must be a list of names, e.g. ["send_messages"]')
        try:
            bits = perms.parse_names(names)
        except ValueError as exc:
            raise SandboxError(str(exc)) from None
        return json_response(model.set_bot_permissions(gid, bits).to_json())

    async def move_role(request: web.Request) -> web.Response:
        # The owner drags a role in the server settings: GUILD_ROLE_UPDATE.
        gid = guild_id(request.match_info["guild_id"])
        try:
            rid = int(request.match_info["role_id"])
        except ValueError:
            raise SandboxError(f"unknown role {request.match_info['role_id']}") from None
        position = (await body_of(request)).get("position")
        if isinstance(position, bool) or not isinstance(position, int) or position < 1:
            raise SandboxError("position must be an integer of 1 or more")
        try:
            role = model.move_role(gid, rid, position)
        except KeyError:
            raise SandboxError(f"unknown role {rid} in guild {gid}") from None
        return json_response(role.to_json())

    async def features(request: web.Request) -> web.Response:
        # The owner boosts the server (e.g. ROLE_ICONS for role icons): GUILD_UPDATE.
        gid = guild_id(request.match_info["guild_id"])
        names = (await body_of(request)).get("features")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise SandboxError('features must be a list of names, e.g. ["ROLE_ICONS"]')
        model.set_features(gid, names)
        return json_response({"features": names})

    async def guild_state(request: web.Request) -> web.Response:
        gid = guild_id(request.match_info["guild_id"])
        return json_response(model.state_json(gid))

    from .guild_edit import control_route  # noqa: PLC0415 - it imports guild_api

    return [
        control_route(sandbox),
        ("POST", "/members", join),
        ("DELETE", "/members/{guild_id}/{user_id}", leave),
        ("PUT", "/guilds/{guild_id}/bot_permissions", bot_permissions),
        ("GET", "/guilds/{guild_id}/state", guild_state),
        ("PUT", "/guilds/{guild_id}/features", features),
        ("PATCH", "/guilds/{guild_id}/roles/{role_id}", move_role),
    ]
