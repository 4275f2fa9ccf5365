"""The live web dashboard: its HTTP API, and the page in a real headless Chromium.

The browser test drives Debian's ``chromium`` through Playwright (no browser download); it is
skipped, saying why, only when chromium or Playwright is not installed (``.ci/run`` installs
both).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ezlang.sandbox import Sandbox
from ezlang.sharding.manager import ShardManager

from .conftest import FAST, PYBOT, identifies, wait_until

pytestmark = pytest.mark.timeout(120)

TOKEN = "dash-s3cret"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


async def post(url: str, token: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with aiohttp.ClientSession() as http, http.post(url, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_actions_need_the_token_and_state_shows_every_shard(
    sandbox: Sandbox, make_manager
) -> None:
    manager, _ = make_manager(total_shards=2, dashboard={"port": 0, "token": TOKEN})
    await manager.spawn()
    base = manager.monitor.dashboard_url
    assert base is not None and base.startswith("http://127.0.0.1:")
    async with aiohttp.ClientSession() as http:
        async with http.get(base) as resp:
            assert resp.status == 200 and "ezlang shards" in await resp.text()
        async with http.get(base + "static/app.js") as resp:
            assert resp.status == 200 and "api/state" in await resp.text()
        async with http.get(base + "api/state") as resp:
            state = await resp.json()
    assert TOKEN not in str(state)
    assert [s["shard_id"] for s in state["shards"]] == [0, 1]
    assert all(s["status"] == "ready" and s["restarts"] == 0 for s in state["shards"])
    assert sum(s["guilds"] for s in state["shards"]) == 40
    assert state["actions"] is True and state["multi_host"] is False
    granted = [row for row in state["identify"]["timeline"] if row["granted"]]
    assert sorted(row["shard"] for row in granted) == [0, 1]

    url = base + "api/shards/1/respawn"
    status, body = await post(url)
    assert status == 401 and "needs the dashboard token" in body["error"]
    status, body = await post(url, "wrong")
    assert status == 403 and body["error"] == "wrong dashboard token"
    status, body = await post(base + "api/shards/7/respawn", TOKEN)
    assert status == 404 and "unknown shard '7'" in body["error"]
    assert manager.shards[1].restarts == 0  # nothing refused was done
    status, body = await post(url, TOKEN)
    assert status == 202 and body == {"accepted": True, "shard": 1}
    await wait_until(
        lambda: manager.shards[1].restarts == 1 and manager.shards[1].status == "ready",
        30,
        "shard 1 respawned by the dashboard",
    )


async def test_the_rolling_restart_button_replaces_every_shard_without_identify(
    sandbox: Sandbox, make_manager
) -> None:
    manager, _ = make_manager(total_shards=2, dashboard={"port": 0, "token": TOKEN})
    await manager.spawn()
    base = manager.monitor.dashboard_url
    identified = len(identifies(sandbox))
    status, body = await post(base + "api/restart")
    assert status == 401 and "needs the dashboard token" in body["error"]
    assert [s.restarts for s in manager.shards.values()] == [0, 0]
    status, body = await post(base + "api/restart", TOKEN)
    assert status == 202 and body == {"accepted": True}
    await wait_until(
        lambda: (
            [(s.restarts, s.status) for s in manager.shards.values()]
            == [(1, "ready"), (1, "ready")]
        ),
        60,
        "both shards replaced by the rolling restart",
    )
    # The sessions were handed over: the new processes RESUMEd, nothing IDENTIFYed again.
    assert len(identifies(sandbox)) == identified


async def test_without_a_token_the_actions_are_off(sandbox: Sandbox, make_manager) -> None:
    manager, _ = make_manager(total_shards=1, dashboard=0)
    await manager.spawn()
    status, body = await post(manager.monitor.dashboard_url + "api/shards/0/respawn", "x")
    assert status == 403 and body["error"].startswith("actions are off")
    assert manager.shards[0].restarts == 0


@pytest.fixture
async def browser() -> Any:
    playwright_api = pytest.importorskip(
        "playwright.async_api", reason="Playwright is not installed (pip install playwright)"
    )
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed (apt-get install chromium)")
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            await browser.close()


# Records every status the page ever shows, so the test can prove it saw shards *become* ready.
SEEN_SCRIPT = """
window.__seen = [];
new MutationObserver(() => {
  for (const td of document.querySelectorAll("#shards td.status")) {
    const row = td.parentElement.dataset.shard + ":" + td.textContent;
    if (!window.__seen.includes(row)) window.__seen.push(row);
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


async def test_the_page_in_chromium_shows_shards_and_respawns_one(browser: Any) -> None:
    from playwright.async_api import expect

    # A 2 s identify window: one shard waits in the queue while the page is already showing.
    async with Sandbox(guilds=40, identify_window=2.0) as sb:
        opts = {
            "token": sb.token,
            "api": sb.api_url,
            "total_shards": 2,
            "dashboard": {"port": 0, "token": TOKEN},
            **FAST,
        }
        manager = ShardManager(PYBOT, opts)
        spawn = asyncio.ensure_future(manager.spawn())
        try:
            await wait_until(lambda: manager.monitor.dashboard_url, 20, "the dashboard")
            page = await browser.new_page(viewport={"width": 1100, "height": 640})
            await page.add_init_script(SEEN_SCRIPT)
            await page.goto(manager.monitor.dashboard_url)
            rows = page.locator("#shards tbody tr")
            await expect(rows).to_have_count(2, timeout=20_000)
            for shard in (0, 1):
                status = page.locator(f'#shards tr[data-shard="{shard}"] td.status')
                await expect(status).to_have_text("ready", timeout=30_000)
            await spawn
            seen = await page.evaluate("window.__seen")
            # Whichever shard got the second identify slot was shown waiting, then ready.
            assert {"0:ready", "1:ready"} <= set(seen), seen
            assert any(s.split(":")[1] in ("starting", "identifying") for s in seen), seen
            await expect(page.locator("#summary")).to_have_text("2/2 shards ready")
            restarts = page.locator('#shards tr[data-shard="1"] td.restarts')
            await expect(restarts).to_have_text("0")
            await expect(page.locator("#timeline .bar.granted")).to_have_count(2)
            await expect(page.locator("#restart")).to_be_visible()

            # No token: refused, and nothing happens.
            respawn = page.locator('#shards tr[data-shard="1"] button.respawn')
            await respawn.click()
            message = page.locator("#message")
            await expect(message).to_contain_text("refused (401)")
            await expect(message).to_contain_text("needs the dashboard token")
            await page.fill("#token", "not-the-token")
            await page.locator('#shards tr[data-shard="1"] button.respawn').click()
            await expect(message).to_contain_text("refused (403): wrong dashboard token")
            assert manager.shards[1].restarts == 0
            await expect(restarts).to_have_text("0")

            # The token: the respawn happens and the page shows the new restart count.
            await page.fill("#token", TOKEN)
            await page.locator('#shards tr[data-shard="1"] button.respawn').click()
            await expect(message).to_have_text("respawn of shard 1 requested")
            await expect(restarts).to_have_text("1", timeout=30_000)
            status = page.locator('#shards tr[data-shard="1"] td.status')
            await expect(status).to_have_text("ready", timeout=30_000)
            assert manager.shards[1].restarts == 1
            shot = os.environ.get("EZLANG_DASHBOARD_SCREENSHOT")
            if shot:  # how docs/img/dashboard.png is made
                await page.wait_for_timeout(1500)  # one more poll: a fresh events/s column
                await page.screenshot(path=str(Path(shot)), full_page=True)
        finally:
            spawn.cancel()
            await asyncio.gather(spawn, return_exceptions=True)
            await manager.stop()
