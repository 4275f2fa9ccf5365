"""The sandbox's global REST limit per token and Discord's invalid request limit, over HTTP."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from ezlang.sandbox import Sandbox


async def _get(session: aiohttp.ClientSession, sb: Sandbox, path: str, token: str | None = None):
    headers = {"Authorization": f"Bot {token or sb.token}"}
    async with session.get(sb.api_url + path, headers=headers) as r:
        text = await r.text()
        return r.status, dict(r.headers), text


async def test_the_global_limit_counts_every_route_and_answers_global_429s() -> None:
    async with Sandbox(guilds=2, rest_global_limit=10) as sb, aiohttp.ClientSession() as s:
        assert sb.state()["global_rate_limited"] == 0
        channel = sb.guilds_for_shard(0, 1)[0]["text_channel_ids"][0]
        paths = ["/users/@me", f"/channels/{channel}", "/gateway/bot"] * 5  # 15 in one burst
        answers = await asyncio.gather(*(_get(s, sb, p) for p in paths))
        statuses = [a[0] for a in answers]
        assert statuses.count(200) == 10 and statuses.count(429) == 5
        refused = [a for a in answers if a[0] == 429]
        for _, headers, text in refused:
            assert headers["X-RateLimit-Global"] == "true"
            assert headers["X-RateLimit-Scope"] == "global"
            assert headers["Via"] == "1.1 google"
            body = json.loads(text)
            assert body["global"] is True and body["message"] == "You are being rate limited."
        state = sb.state()
        assert state["global_rate_limited"] == 5
        assert state["invalid_requests"] == 5  # 429s count as invalid requests


async def test_invalid_requests_past_the_limit_get_a_cloudflare_refusal() -> None:
    async with (
        Sandbox(guilds=1, invalid_request_limit=20, invalid_request_ban=60) as sb,
        aiohttp.ClientSession() as s,
    ):
        for i in range(19):
            status, _, _ = await _get(s, sb, "/users/@me", token="wrong")
            assert status == 401
            assert sb.state()["invalid_requests"] == i + 1
        assert (await _get(s, sb, "/users/@me"))[0] == 200  # a valid request is not counted
        assert sb.state()["invalid_requests"] == 19
        assert (await _get(s, sb, "/users/@me", token="wrong"))[0] == 401  # the 20th
        status, headers, text = await _get(s, sb, "/users/@me")  # now even a valid one
        assert status == 429 and text == "error code: 1015"
        assert "Via" not in headers and not text.startswith("{")
        assert int(headers["Retry-After"]) >= 59
        assert sb.state()["invalid_request_refused"] == 1


async def test_the_invalid_request_window_forgets_old_answers() -> None:
    from ezlang.sandbox.ratelimit import InvalidRequestLimiter

    now = [0.0]
    lim = InvalidRequestLimiter(limit=3, window=10.0, ban=5.0, clock=lambda: now[0])
    lim.note(403)
    lim.note(429, "shared")  # not counted
    lim.note(404)  # not invalid
    now[0] = 6.0
    lim.note(401)
    assert lim.count == 2 and lim.banned() == 0
    now[0] = 10.5  # the first one left the window
    lim.note(429, "user")
    assert lim.count == 2 and lim.banned() == 0
    lim.note(403)
    assert lim.count == 3 and lim.banned() == 5.0
    now[0] = 15.6
    assert lim.banned() == 0


def test_the_cli_flags_set_both_limits() -> None:
    import os
    import select
    import signal
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    from ezlang.sandbox.cli import main as cli_main

    assert cli_main(["--global-rate", "-1"]) == 2
    assert cli_main(["--invalid-limit", "0"]) == 2
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ezlang", "sandbox", "--guilds", "2", "--global-rate", "3"]
        + ["--invalid-limit", "4", "--no-log"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready, proc.stderr.read() if proc.poll() is not None else "no output"
        info = json.loads(proc.stdout.readline().split(" ", 1)[1])
        statuses = []
        for _ in range(5):  # 3 allowed, then 2 global 429s (the window is 1 s)
            req = urllib.request.Request(
                info["api"] + "/users/@me", headers={"Authorization": "Bot " + info["token"]}
            )
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    statuses.append(r.status)
            except urllib.error.HTTPError as exc:
                statuses.append(exc.code)
        with urllib.request.urlopen(info["control"] + "/state", timeout=10) as r:
            state = json.loads(r.read())
        assert statuses == [200, 200, 200, 429, 429]
        assert state["global_rate_limited"] == 2 and state["invalid_requests"] == 2
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        out = proc.stdout.read()
        assert "global limit 3 requests/s per token; 4 invalid requests per 10 min" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
