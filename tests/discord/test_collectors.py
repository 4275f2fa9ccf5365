"""Collectors, wait_for_*, the bot's own messages, send_message options and presence
arguments: the builtins driven from Python with the real discord.py client against a real
sandbox (as in ``test_runtime.py``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ezlang.discord import convert
from ezlang.lang import ops
from ezlang.lang.asyncbridge import call_async
from ezlang.lang.errors import EzError

from .conftest import Control, wait_until
from .test_runtime import b, ez, start_and_wait_ready

pytestmark = pytest.mark.timeout(90)


async def _user_message(control: Control, channel: str, text: str) -> dict[str, Any]:
    return await control.inject(channel, text)


async def test_message_collector_keeps_what_passes_the_filter_until_max(
    run_ctx: Any, control: Control
) -> None:
    await start_and_wait_ready()
    channel = await control.first_text_channel()
    cid = await ez(
        "create_message_collector",
        channel,
        {"filter": lambda m: m["content"].startswith("vote"), "max": 2},
    )
    collected: list[str] = []
    ended: list[tuple[list[Any], str]] = []
    await ez("on_collect", cid, lambda m: collected.append(m["content"]))
    await ez("on_collector_end", cid, lambda items, reason: ended.append((items, reason)))
    for text in ("hello", "vote a", "vote b", "vote c"):
        await _user_message(control, channel, text)
    await wait_until(lambda: ended, what="the collector's end")
    items, reason = ended[0]
    assert reason == "limit"
    assert [m["content"] for m in items] == ["vote a", "vote b"]
    assert collected == ["vote a", "vote b"]
    # Ended collectors are forgotten by the event path (only remembered for late handlers).
    assert cid not in run_ctx_collectors()


def run_ctx_collectors() -> dict[str, Any]:
    from ezlang.discord.runtime import runtime

    return runtime().collectors


async def test_collector_time_runs_out_and_stop_collector_ends_it(
    run_ctx: Any, control: Control
) -> None:
    await start_and_wait_ready()
    channel = await control.first_text_channel()
    timed = await ez("create_message_collector", channel, {"time": 0.2})
    stopped = await ez("create_message_collector", channel, {})
    reasons: dict[str, str] = {}
    await ez("on_collector_end", timed, lambda items, reason: reasons.__setitem__("timed", reason))
    await ez(
        "on_collector_end", stopped, lambda items, reason: reasons.__setitem__("stopped", reason)
    )
    await wait_until(lambda: "timed" in reasons, what="the time limit")
    assert reasons == {"timed": "time"}  # the other one is still collecting
    await _user_message(control, channel, "kept")
    await wait_until(lambda: run_ctx_collectors()[stopped].collected, what="a collected message")
    await ez("stop_collector", stopped)
    await wait_until(lambda: "stopped" in reasons, what="stop_collector")
    assert reasons["stopped"] == "user"
    with pytest.raises(EzError) as err:
        await ez("stop_collector", "collector_nope")
    assert err.value.kind == "ValueError" and "create_message_collector" in err.value.message


async def test_collector_options_are_checked(run_ctx: Any) -> None:
    with pytest.raises(EzError) as err:
        await ez("create_message_collector", "123", {"maximum": 3})
    assert err.value.kind == "ValueError" and "maximum" in err.value.message
    with pytest.raises(EzError) as err:
        await ez("create_message_collector", "123", {"time": -1})
    assert err.value.kind == "ValueError" and "seconds" in err.value.message
    with pytest.raises(EzError) as err:
        await ez("create_reaction_collector", None, {})
    assert err.value.kind == "TypeError"


async def test_reaction_collector_skips_the_bots_own_reaction(
    run_ctx: Any, control: Control, sandbox: Any
) -> None:
    await start_and_wait_ready()
    channel = await control.first_text_channel()
    poll = await ez("send_message", channel, "Vote with a reaction")
    cid = await ez("create_reaction_collector", poll, {"max": 1})
    got: list[tuple[dict[str, Any], Any]] = []
    await ez("on_collect", cid, lambda reaction, user: got.append((reaction, user)))
    # The bot's own reaction reaches the bot (as on Discord) but is not collected.
    await ez("react", poll, "🤖")
    await wait_until(lambda: len(sandbox.reactions) == 1, what="the bot's reaction")
    # A member of the guild reacts (the control API picks one when no user_id is given).
    answer = await control.post(
        "/reactions", {"channel_id": channel, "message_id": poll["id"], "emoji": "👍"}
    )
    assert answer["delivered"] is True
    await wait_until(lambda: got, what="the collected reaction")
    reaction, user = got[0]
    assert reaction["emoji"] == "👍" and reaction["message_id"] == poll["id"]
    assert user is not None and user["id"] == reaction["user_id"] and not user["bot"]
    with pytest.raises(EzError) as err:
        ops.member(reaction, "emoij")
    assert "did you mean 'emoji'" in err.value.message


async def test_wait_for_message_returns_the_first_match_and_null_on_timeout(
    run_ctx: Any, control: Control
) -> None:
    await start_and_wait_ready()
    channel = await control.first_text_channel()
    waiter = asyncio.ensure_future(
        call_async(b("wait_for_message"), lambda m: m["content"] == "yes", 15)
    )
    await wait_until(lambda: run_ctx_collectors(), what="the waiting collector")
    await _user_message(control, channel, "no")
    await _user_message(control, channel, "yes")
    message = await asyncio.wait_for(waiter, 15)
    assert message["content"] == "yes"
    assert not run_ctx_collectors()
    assert await ez("wait_for_reaction", message, None, 0.2) is None
    assert not run_ctx_collectors()


async def test_own_messages_reach_only_handlers_that_opt_in(run_ctx: Any, control: Control) -> None:
    default: list[str] = []
    opted: list[str] = []
    await ez("on_message", lambda m: default.append(m["content"]))
    await ez("on_message", lambda m: opted.append(m["content"]), {"include_self": True})
    await start_and_wait_ready()
    channel = await control.first_text_channel()
    await ez("send_message", channel, "from the bot")
    await wait_until(lambda: "from the bot" in opted, what="the opted-in handler")
    # Events arrive in order: once the later user message is seen, the bot's was skipped.
    await _user_message(control, channel, "barrier")
    await wait_until(lambda: "barrier" in default, what="the user message")
    assert default == ["barrier"]
    with pytest.raises(EzError) as err:
        await ez("on_message", lambda m: None, {"include_me": True})
    assert err.value.kind == "ValueError" and "include_self" in err.value.message


async def test_send_message_options_reply_to_and_embeds(run_ctx: Any, control: Control) -> None:
    seen: list[dict[str, Any]] = []
    await ez("on_message", seen.append)
    await start_and_wait_ready()
    channel = await control.first_text_channel()
    await _user_message(control, channel, "question")
    await wait_until(lambda: seen, what="the user message")
    await ez("send_message", channel, "answer", {"reply_to": seen[0]})
    await ez("send_message", channel, None, {"embeds": [{"title": "Card"}]})
    answer = await control.wait_for_bot_message(channel, lambda m: m["content"] == "answer")
    assert answer["message_reference"]["message_id"] == seen[0]["id"]
    card = await control.wait_for_bot_message(channel, lambda m: bool(m.get("embeds")))
    assert card["embeds"][0]["title"] == "Card"
    with pytest.raises(EzError) as err:
        await ez("send_message", channel, "x", {"reply": seen[0]})
    assert err.value.kind == "ValueError" and "reply_to" in err.value.message


async def test_presence_arguments_follow_the_older_easylang(run_ctx: Any) -> None:
    with pytest.raises(EzError) as err:
        await ez("set_activity", "playing", "Minecraft")  # ezlang's old (type, text) order
    assert err.value.kind == "ValueError"
    assert 'set_activity("Minecraft", "playing")' in err.value.message
    with pytest.raises(EzError) as err:
        await ez("set_status", "online", "playing")
    assert err.value.kind == "ArgumentError"
    await ez("set_status", "dnd", "watching", "the logs")
    from ezlang.discord.runtime import runtime

    rt = runtime()
    assert str(rt.status) == "dnd" and rt.activity is not None and rt.activity.name == "the logs"
    await ez("set_activity", "a stream", "streaming", {"url": "https://example.com/s"})
    assert getattr(rt.activity, "url", None) == "https://example.com/s"


def test_discord_objects_name_the_field_a_typo_meant() -> None:
    message = convert.message_from_payload(
        {
            "id": "1175353600408813568",
            "channel_id": "20",
            "content": "hi",
            "author": {"id": "40", "username": "ada"},
        }
    )
    assert ops.member(message, "content") == "hi"
    with pytest.raises(EzError) as err:
        ops.member(message, "contnet")
    assert err.value.kind == "TypeError"
    assert "did you mean 'content'" in err.value.message
    with pytest.raises(EzError) as err:
        ops.member(message["author"], "nmae")
    assert "a user has no field 'nmae'" in err.value.message
    # Still data: keys, membership and JSON see its fields.
    assert "content" in ops.iterate(message)
    assert ops.contains("author", message)
