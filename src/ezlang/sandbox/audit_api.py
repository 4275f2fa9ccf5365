"""``GET /guilds/{id}/audit-logs``, Discord's way: needs View Audit Log (403 50013), takes
``user_id``, ``action_type``, ``before``, ``after`` and ``limit`` (1–100, default 50), and
answers newest first (oldest first when paging with ``after``), with the users it names.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .guild_api import GuildRoutes, _id, _invalid, _missing
from .rest import error, json_response


class AuditLogRoutes(GuildRoutes):
    """``GET /guilds/{id}/audit-logs``."""

    def routes(self) -> list[tuple[str, str, Any]]:
        """``(method, path, handler)`` for ``RestApi`` to register."""
        return [("GET", "/guilds/{guild_id}/audit-logs", self.audit_logs)]

    async def audit_logs(self, request: web.Request) -> web.Response:
        state = self._state(request, edit=False)
        if state is None:
            return error(404, "Unknown Guild", 10004)
        if not state.has(self.bot, "view_audit_log"):
            return _missing()
        q = request.query
        filters: dict[str, int | None] = {}
        for key in ("user_id", "action_type", "before", "after", "limit"):
            raw = q.get(key)
            value = None if raw is None else _id(raw)
            if raw is not None and value is None:
                return _invalid(key, "Value is not a valid integer.")
            filters[key] = value
        limit = filters["limit"] or 50
        if not 1 <= limit <= 100:
            return _invalid("limit", "Must be between 1 and 100.")
        entries = list(self.model.audit.entries.get(state.guild_id, ()))
        picked = [
            e
            for e in entries
            if (filters["user_id"] is None or e["user_id"] == str(filters["user_id"]))
            and (filters["action_type"] is None or e["action_type"] == filters["action_type"])
            and (filters["before"] is None or int(e["id"]) < filters["before"])
            and (filters["after"] is None or int(e["id"]) > filters["after"])
        ]
        # Newest first; with only `after`, the oldest after it first (Discord's paging).
        picked = picked[:limit] if filters["after"] is not None and filters["before"] is None \
            else picked[::-1][:limit]  # fmt: skip
        users = {e["user_id"] for e in picked} | {
            e["target_id"] for e in picked if e["action_type"] in range(20, 29) and e["target_id"]
        }
        world = self.sb.world
        return json_response(
            {
                "audit_log_entries": picked,
                "users": [u for u in (world.user(int(i)) for i in sorted(users)) if u is not None],
                "integrations": [],
                "webhooks": [],
                "guild_scheduled_events": [],
                "threads": [],
                "application_commands": [],
                "auto_moderation_rules": [],
            }
        )
