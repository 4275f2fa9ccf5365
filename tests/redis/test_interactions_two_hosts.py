"""Interactions in a bot split over two hosts: the documented two-machine example (two real
``ezlang run manager.ez`` processes sharing one redis-server, shards 0–3 and 4–7) with the
example bot's ``/stats``. An interaction in a guild of a shard on either machine is answered
by that shard, its totals cover both machines, and the commands are written once for the
whole bot — by shard 0, on machine A only."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from ezlang.sandbox import Sandbox

from .test_easylang_two_hosts import BOT, GUILDS, manager_from_doc, two_machines

pytestmark = pytest.mark.timeout(150)

SHARDS = 8


async def _stats(sb: Sandbox, shard_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Use /stats in a guild of ``shard_id``: the control API's summary and the final embed."""
    channel = sb.guilds_for_shard(shard_id, SHARDS)[0]["text_channel_ids"][0]
    result = await sb.interact(channel_id=channel, kind="command", name="stats")
    assert result["delivered"] and not result["failed"], result
    inter = sb.interactions.get(result["id"])
    deadline = asyncio.get_running_loop().time() + 15
    while not (inter.original and inter.original.get("embeds")):  # deferred, then edited
        assert asyncio.get_running_loop().time() < deadline, inter.summary()
        await asyncio.sleep(0.05)
    assert inter.original is not None
    return result, inter.original["embeds"][0]


@pytest.mark.skipif(not BOT.exists(), reason="examples/sharding/bot.ez is not there")
async def test_interactions_are_answered_on_the_machine_of_their_shard(
    tmp_path: Path, redis_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "manager.ez").write_text(manager_from_doc())
    (tmp_path / "bot.ez").write_text(BOT.read_text())
    async with Sandbox(guilds=GUILDS, max_concurrency=1, identify_window=0.5) as sb:
        looked: list[str] = []  # requests to the global commands: who even compared them
        check = sb.rest_limiter.check

        def recording(route: str, *args: Any) -> Any:
            if route.endswith(" /applications/{app_id}/commands"):
                looked.append(route.split()[0])
            return check(route, *args)

        monkeypatch.setattr(sb.rest_limiter, "check", recording)
        output: dict[str, list[str]] = {"machine-a": [], "machine-b": []}
        async with two_machines(sb, tmp_path, redis_server.url, output) as procs:
            for shard_id in (1, 6):  # one shard on each machine
                result, embed = await _stats(sb, shard_id)
                assert result["shard"] == shard_id
                assert embed["description"] == f"Answered by shard {shard_id}."
                fields = {f["name"]: f["value"] for f in embed["fields"]}
                assert fields["Servers"] == str(GUILDS)
                assert fields["Shards ready"] == f"{SHARDS} of {SHARDS}"
            snap = sb.app_commands.snapshot()
            assert [c["name"] for c in snap["global"]] == ["stats"]
            assert snap["overwrites"] == 1  # one write for 8 shards on 2 machines
            assert sorted(looked) == ["GET", "PUT"]  # and one comparison
        written = {
            name: [ln for ln in lines if re.search(r"ezlang: registered \d+ application", ln)]
            for name, lines in output.items()
        }
        assert len(written["machine-a"]) == 1 and written["machine-a"][0].startswith("[shard 0]")
        assert written["machine-b"] == []
        for lines in output.values():
            assert not any("Traceback" in ln for ln in lines), lines
        assert all(p.returncode == 0 for p in procs.values())
