"""Discord's rule for editing a channel's permission overwrites, over raw REST.

Edit Channel Permissions needs MANAGE_ROLES in the channel (guild-wide and not denied there,
or allowed by an overwrite); it may allow or deny only permissions the bot has in the
channel's category (or the guild) — unless a MANAGE_ROLES overwrite in the channel applies to
the bot, which lets it set any; without VIEW_CHANNEL the channel is 50001 Missing Access.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from ezlang.sandbox import Sandbox

TOKEN = "sandbox-token"
AUTH = {"Authorization": f"Bot {TOKEN}"}
MISSING = {"message": "Missing Permissions", "code": 50013}
NO_ACCESS = {"message": "Missing Access", "code": 50001}
VIEW, SEND, EMBED = 1 << 10, 1 << 11, 1 << 14
MANAGE_ROLES, MANAGE_WEBHOOKS = 1 << 28, 1 << 29


@pytest.fixture
async def sb() -> Any:
    async with Sandbox(guilds=2, identify_window=0.0) as sandbox:
        yield sandbox


@pytest.fixture
async def http() -> Any:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(http: Any, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    async with http.request(method, url, json=body, headers=AUTH) as r:
        text = await r.text()
        return r.status, (await r.json(content_type=None)) if text else None


class Guild:
    def __init__(self, sb: Any, http: Any, index: int) -> None:
        self.sb, self.http = sb, http
        self.id = sb.world.guild_id(index)
        self.general, self.other = sb.world.text_channel_ids(self.id)[:2]
        self.category = self.id | 1
        self.bot_role = self.id | 47
        self.member = sb.world.member_ids(index)[1]

    async def put(self, channel: int, target: int, kind: int, allow: int = 0, deny: int = 0):
        body = {"type": kind, "allow": str(allow), "deny": str(deny)}
        url = f"{self.sb.api_url}/channels/{channel}/permissions/{target}"
        return await call(self.http, "PUT", url, body)

    async def delete(self, channel: int, target: int) -> tuple[int, Any]:
        url = f"{self.sb.api_url}/channels/{channel}/permissions/{target}"
        return await call(self.http, "DELETE", url)

    async def bot_permissions(self, names: list[str]) -> None:
        url = f"{self.sb.control_url}/guilds/{self.id}/bot_permissions"
        async with self.http.put(url, json={"permissions": names}) as r:
            assert r.status == 200


async def test_only_permissions_the_bot_has_unless_it_has_a_manage_roles_overwrite(
    sb: Any, http: Any
) -> None:
    g = Guild(sb, http, 0)
    # The bot's role has Manage Roles but not Manage Webhooks: it cannot hand that out.
    assert await g.put(g.general, g.member, 1, allow=MANAGE_WEBHOOKS) == (403, MISSING)
    assert await g.put(g.general, g.member, 1, deny=MANAGE_WEBHOOKS) == (403, MISSING)
    assert await g.put(g.general, g.member, 1, allow=EMBED, deny=SEND) == (204, None)
    # A Manage Permissions overwrite for the bot in #general lets it set any permission there…
    assert await g.put(g.general, sb.world.bot_id, 1, allow=MANAGE_ROLES) == (204, None)
    assert await g.put(g.general, g.member, 1, allow=MANAGE_WEBHOOKS) == (204, None)
    # …and only there.
    assert await g.put(g.other, g.member, 1, allow=MANAGE_WEBHOOKS) == (403, MISSING)
    # Without Manage Roles in the guild, the overwrite alone still lets it manage #general.
    await g.bot_permissions(["view_channel", "send_messages"])
    assert await g.put(g.general, g.member, 1, allow=MANAGE_WEBHOOKS | EMBED) == (204, None)
    assert await g.put(g.other, g.member, 1, allow=SEND) == (403, MISSING)
    assert await g.delete(g.other, g.member) == (403, MISSING)
    state = sb.server.state_json(g.id)["overwrites"]
    assert {o["id"]: o["allow"] for o in state[str(g.general)]}[str(g.member)] == str(
        MANAGE_WEBHOOKS | EMBED
    )
    assert str(g.other) not in state


async def test_manage_roles_denied_in_the_channel_and_the_categorys_scope(
    sb: Any, http: Any
) -> None:
    g = Guild(sb, http, 1)
    # The category denies the bot Embed Links: in its channels it can no longer grant it.
    assert await g.put(g.category, g.bot_role, 0, deny=EMBED) == (204, None)
    assert await g.put(g.general, g.member, 1, allow=EMBED) == (403, MISSING)
    assert await g.put(g.general, g.member, 1, allow=SEND) == (204, None)
    # Manage Roles denied to the bot's role in #other: no overwrite edits there at all.
    assert await g.put(g.other, g.bot_role, 0, deny=MANAGE_ROLES) == (204, None)
    assert await g.put(g.other, g.member, 1, allow=SEND) == (403, MISSING)
    assert await g.delete(g.other, g.bot_role) == (403, MISSING)
    # A channel the bot cannot see is Missing Access.
    assert await g.put(g.general, g.bot_role, 0, deny=VIEW) == (204, None)
    assert await g.put(g.general, g.member, 1, allow=SEND) == (403, NO_ACCESS)
    # An administrator may do anything.
    await g.bot_permissions(["administrator"])
    assert await g.put(g.other, g.member, 1, allow=MANAGE_WEBHOOKS) == (204, None)
    assert await g.delete(g.other, g.bot_role) == (204, None)
