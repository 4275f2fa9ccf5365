"""The live web dashboard (option ``dashboard``, ``--dashboard PORT``), served by the manager.

A page (``static/``: plain HTML, CSS and JavaScript shipped in the package, no build step)
that polls ``GET /api/state`` every second and shows every shard — status, servers, ping,
memory, events per second, restarts, last exit, and the host in multi-host mode — and the
identify queue as a timeline. Actions (``POST /api/shards/{id}/respawn``, and
``POST /api/restart``: ``restart_shards()``, a rolling restart) need the dashboard token as
``Authorization: Bearer <token>``: without the header the answer is 401, with a wrong token
403, and without a configured token actions are off (403). Loopback only by default.
"""

from __future__ import annotations

import hmac
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ezlang.lang.errors import EzError

if TYPE_CHECKING:
    from ezlang.sharding.monitor import Monitor

STATIC = Path(__file__).parent / "static"

NO_TOKEN = (
    "actions are off: this dashboard has no token. Start the manager with "
    "dashboard: {port, token} or set EZLANG_DASHBOARD_TOKEN"
)
NEEDS_TOKEN = "this action needs the dashboard token (send it as Authorization: Bearer <token>)"
WRONG_TOKEN = "wrong dashboard token"


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def state(monitor: Monitor, token: str | None) -> dict[str, Any]:
    """What ``GET /api/state`` answers (plain JSON values; never a token)."""
    manager = monitor.manager
    return {
        "bot": manager.options.bot_file.name,
        "total_shards": manager.total_shards,
        "multi_host": manager.remote is not None,
        "host": getattr(manager.directory, "host", None) if manager.remote is not None else None,
        "actions": token is not None,
        "shards": monitor.shard_rows(),
        "identify": monitor.identify_view(),
        "now": round(time.time() * 1000),
    }


def dashboard_app(monitor: Monitor, token: str | None) -> web.Application:
    """The aiohttp application of the dashboard."""
    manager = monitor.manager

    def refused(request: web.Request) -> web.Response | None:
        if token is None:
            return _error(403, NO_TOKEN)
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or not header[7:].strip():
            return _error(401, NEEDS_TOKEN)
        if not hmac.compare_digest(header[7:].strip().encode(), token.encode()):
            return _error(403, WRONG_TOKEN)
        return None

    async def index(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    async def api_state(request: web.Request) -> web.Response:
        if manager.has_live_shards:
            await monitor.refresh()
        return web.json_response(state(monitor, token))

    async def respawn(request: web.Request) -> web.Response:
        denied = refused(request)
        if denied is not None:
            return denied
        raw = request.match_info["shard"]
        if not raw.isdigit() or int(raw) not in manager.all_ids():
            return _error(404, f"unknown shard {raw!r}")
        if not manager.has_live_shards:
            return _error(409, "the shards are not running")
        shard_id = int(raw)
        # Answered at once; the respawn runs in the manager (a closed page must not cancel it).
        manager.spawn_bg(_action(manager, f"respawn of shard {shard_id}", shard_id))
        return web.json_response({"accepted": True, "shard": shard_id}, status=202)

    async def restart(request: web.Request) -> web.Response:
        denied = refused(request)
        if denied is not None:
            return denied
        if not manager.has_live_shards:
            return _error(409, "the shards are not running")
        manager.spawn_bg(_action(manager, "rolling restart", None))
        return web.json_response({"accepted": True}, status=202)

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_static("/static", STATIC)
    app.router.add_get("/api/state", api_state)
    app.router.add_post("/api/shards/{shard}/respawn", respawn)
    app.router.add_post("/api/restart", restart)
    return app


async def _action(manager: Any, what: str, shard_id: int | None) -> None:
    """Run a dashboard action; its outcome is a manager message (the page shows the rest)."""
    reporter = manager.reporter
    reporter.info(f"dashboard: {what} requested", shard=shard_id, event="dashboard_action")
    try:
        if shard_id is None:
            await manager.restart_shards()
        else:
            await manager.respawn_shard(shard_id)
    except EzError as exc:
        reporter.problem(f"dashboard: {what} failed: {exc.message}", shard=shard_id)


__all__ = ["dashboard_app", "state"]
