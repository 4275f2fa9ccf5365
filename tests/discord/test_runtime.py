"""The bot builtins driven from Python, with the real discord.py client against a real sandbox.

EasyLang functions are plain Python callables run with ``call_async``, so these tests call
the builtins exactly as compiled EasyLang code does (``ezlang run`` end-to-end tests are in
``test_cli.py``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import ezlang.discord.builtins  # noqa: F401  (registers the builtins)
from ezlang.discord import plugin
from ezlang.discord.runtime import runtime
from ezlang.extensions import DISCORD_BUILTINS
from ezlang.lang.asyncbridge import call_async
from ezlang.lang.errors import EzError
from ezlang.lang.registry import BUILTINS

from .conftest import Control, wait_until

pytestmark = pytest.mark.timeout(90)


def b(name: str) -> Any:
    """A builtin as EasyLang code sees it (async builtins already wrapped to pause the caller)."""
    return BUILTINS[name]


async def ez(name: str, *args: Any) -> Any:
    """Call a builtin from 'EasyLang' (inside call_async, like a compiled program)."""
    return await call_async(b(name), *args)


async def start_and_wait_ready() -> Any:
    ready: list[Any] = []
    await ez("on_ready", lambda client: ready.append(client))
    await ez("bot_start")
    await wait_until(lambda: ready, what="ready")
    return ready[0]


def test_every_declared_builtin_is_registered() -> None:
    missing = [
        name
        for name in DISCORD_BUILTINS
        if name not in BUILTINS
        or getattr(BUILTINS[name], "__module__", "").startswith("ezlang.lang.registry")
    ]
    assert not missing


async def test_ping_gets_a_reply_recorded_by_the_sandbox(run_ctx: Any, control: Control) -> None:
    def on_message(message: dict[str, Any]) -> None:
        if message["content"] == "!ping":
            b("reply")(message, "Pong!")

    await ez("on_message", on_message)
    await start_and_wait_ready()
    channel = await control.first_text_channel()
    await control.inject(channel, "!ping")
    reply = await control.wait_for_bot_message(channel, lambda m: m["content"] == "Pong!")
    assert reply["message_reference"]["channel_id"] == channel


async def test_message_object_is_plain_easylang_data(run_ctx: Any, control: Control) -> None:
    seen: list[dict[str, Any]] = []
    await ez("on_message", seen.append)
    await start_and_wait_ready()
    channel = await control.first_text_channel()
    injected = await control.inject(channel, "hello there")
    await wait_until(lambda: seen, what="messageCreate")
    message = seen[0]
    assert message["content"] == "hello there"
    assert message["id"] == str(injected["id"])
    assert message["channel_id"] == channel
    assert message["guild_id"] == str(injected["guild_id"])
    assert set(message["author"]) >= {"id", "username", "tag", "bot"}
    assert message["author"]["bot"] is False
    assert isinstance(message["created_at"], str) and isinstance(message["created_timestamp"], int)
    for value in message.values():  # only EasyLang values: no discord.py objects leak out
        assert value is None or isinstance(value, str | int | bool | list | dict)


async def test_handler_error_is_printed_and_the_bot_keeps_running(
    run_ctx: Any, control: Control, capsys: pytest.CaptureFixture[str]
) -> None:
    def on_message(message: dict[str, Any]) -> None:
        if message["content"] == "!boom":
            raise EzError("ValueError", "kaboom from the handler")
        if message["content"] == "!ping":
            b("send_message")(message["channel_id"], "still alive")

    await ez("on_message", on_message)
    await start_and_wait_ready()
    channel = await control.first_text_channel()
    await control.inject(channel, "!boom")
    await wait_until(
        lambda: "kaboom from the handler" in capsys.readouterr().err or None,
        what="the handler error on stderr",
    )
    await control.inject(channel, "!ping")
    await control.wait_for_bot_message(channel, lambda m: m["content"] == "still alive")


async def test_error_event_receives_handler_errors(run_ctx: Any, control: Control) -> None:
    errors: list[dict[str, Any]] = []

    def on_message(message: dict[str, Any]) -> None:
        raise EzError("TypeError", "bad thing")

    await ez("on_message", on_message)
    await ez("listen", "error", errors.append)
    await start_and_wait_ready()
    await control.inject(await control.first_text_channel(), "x")
    await wait_until(lambda: errors, what="error event")
    assert errors[0] == {"kind": "TypeError", "message": "bad thing", "event": "messageCreate"}


async def test_several_handlers_start_in_registration_order_and_run_concurrently(
    run_ctx: Any, control: Control
) -> None:
    order: list[str] = []
    release = asyncio.Event()

    def slow(message: dict[str, Any]) -> None:
        order.append("slow-start")
        from ezlang.lang.asyncbridge import await_

        await_(release.wait())  # pauses only this handler
        order.append("slow-end")

    def fast(message: dict[str, Any]) -> None:
        order.append("fast")

    await ez("listen", "messageCreate", slow)
    await ez("listen", "messageCreate", fast)
    await start_and_wait_ready()
    await control.inject(await control.first_text_channel(), "go")
    await wait_until(lambda: "fast" in order, what="second handler")
    assert order == ["slow-start", "fast"]
    release.set()
    await wait_until(lambda: "slow-end" in order)


async def test_handlers_get_only_the_arguments_they_declare(run_ctx: Any) -> None:
    got: list[tuple[Any, ...]] = []
    await ez("listen", "shardReady", lambda: got.append(()))
    await ez("listen", "shardReady", lambda shard_id: got.append((shard_id,)))
    await start_and_wait_ready()
    await wait_until(lambda: len(got) == 2)
    assert sorted(got) == [(), (0,)]


async def test_unknown_event_is_a_clear_error(run_ctx: Any) -> None:
    with pytest.raises(EzError) as err:
        await ez("listen", "messageCreated", lambda m: None)
    assert err.value.kind == "ValueError"
    assert "messageCreate" in err.value.message  # lists the valid names


async def test_set_activity_and_status_reach_the_sandbox_presences(
    run_ctx: Any, control: Control
) -> None:
    await start_and_wait_ready()
    await ez("set_status", "dnd")
    await ez("set_activity", "the sandbox", "watching")

    async def presence() -> dict[str, Any] | None:
        data = await control.get("/presences")
        entries = data if isinstance(data, list) else data.get("presences", [])
        for entry in entries:
            p = entry.get("presence", entry)
            acts = p.get("activities") or []
            if p.get("status") == "dnd" and acts and acts[0].get("name") == "the sandbox":
                return p
        return None

    p = await wait_until(presence, what="presence in the sandbox")
    assert p["activities"][0]["type"] == 3  # watching


async def test_presence_set_before_start_goes_out_with_identify(
    run_ctx: Any, control: Control
) -> None:
    await ez("set_activity", "chess")  # type: playing by default
    await start_and_wait_ready()

    async def presence() -> bool:
        data = await control.get("/presences")
        entries = data if isinstance(data, list) else data.get("presences", [])
        return any(
            (e.get("presence", e).get("activities") or [{}])[0].get("name") == "chess"
            for e in entries
        )

    await wait_until(presence, what="presence from IDENTIFY")


async def test_get_shard_info_unsharded(run_ctx: Any, sandbox: Any) -> None:
    with pytest.raises(EzError) as err:
        await ez("get_shard_info")
    assert err.value.kind == "DiscordError" and "bot_start()" in err.value.message
    await start_and_wait_ready()
    info = await ez("get_shard_info")
    assert info == {"shard_id": None, "total_shards": 1, "guild_count": 20, "sharded": False}


async def test_client_view_members(run_ctx: Any) -> None:
    client = await start_and_wait_ready()
    assert client is await ez("get_client")
    assert client.ez_get("guilds").ez_get("cache").ez_get("size") == 20
    assert client.ez_get("guild_count") == 20
    assert client.ez_get("channels").ez_get("cache").ez_get("size") >= 20
    assert client.ez_get("users").ez_get("cache").ez_get("size") >= 1
    assert client.ez_get("ws").ez_get("status") == "ready"
    assert isinstance(client.ez_get("ws").ez_get("ping"), int)
    user = client.ez_get("user")
    assert user["bot"] is True and user["tag"] and user["id"].isdigit()
    assert client.ez_get("shard").ez_get("ids") == [0]
    assert client.ez_get("shard").ez_get("count") == 1
    assert client.ez_get("uptime") >= 0
    assert client.ez_get("nope") is None
    assert {"guilds", "ws", "ping", "uptime", "user", "shard"} <= set(client.ez_keys())


async def test_send_message_with_embeds_and_react(run_ctx: Any, control: Control) -> None:
    await start_and_wait_ready()
    channel = await control.first_text_channel()
    sent = await ez(
        "send_message",
        channel,
        {"content": "look", "embeds": [{"title": "Stats", "description": "all good"}]},
    )
    assert sent["content"] == "look" and sent["channel_id"] == channel
    recorded = await control.wait_for_bot_message(channel, lambda m: m["content"] == "look")
    assert recorded["embeds"][0]["title"] == "Stats"


async def test_rest_error_becomes_discord_error_with_discords_message(run_ctx: Any) -> None:
    await start_and_wait_ready()
    with pytest.raises(EzError) as err:
        await ez("send_message", "123456789012345678", "to nowhere")
    assert err.value.kind == "DiscordError"
    assert "404" in err.value.message and "send_message()" in err.value.message


async def test_empty_message_and_bad_channel_are_clear_errors(run_ctx: Any) -> None:
    await start_and_wait_ready()
    with pytest.raises(EzError, match="empty message"):
        await ez("send_message", "123", "")
    with pytest.raises(EzError, match="must be an id"):
        await ez("send_message", "general", "hi")


async def test_wrong_token_is_one_clear_discord_error(run_ctx: Any) -> None:
    with pytest.raises(EzError) as err:
        await ez("bot_start", "definitely-wrong-token")
    assert err.value.kind == "DiscordError"
    assert "401" in err.value.message and "token" in err.value.message
    assert "definitely-wrong-token" not in err.value.message
    assert "\n" not in err.value.message


async def test_no_token_anywhere_is_a_clear_error(run_ctx: Any, monkeypatch: Any) -> None:
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    monkeypatch.delenv("TOKEN", raising=False)
    run_ctx.options.pop("token")
    with pytest.raises(EzError, match="no bot token"):
        await ez("bot_start")


async def test_token_from_the_command_line_argument(run_ctx: Any, sandbox: Any) -> None:
    run_ctx.options.pop("token")
    run_ctx.arguments["TOKEN"] = sandbox.token
    await start_and_wait_ready()


async def test_bot_stop_closes_the_gateway_with_1000(run_ctx: Any, control: Control) -> None:
    await start_and_wait_ready()
    task = runtime().task
    await ez("bot_stop")
    assert task is not None and task.done() and task.exception() is None

    async def closed_cleanly() -> bool:
        state = await control.get("/state")
        return [c["code"] for c in state["closes"]] == [1000] and not any(
            c["status"] == "connected" for c in state["connections"]
        )

    await wait_until(closed_cleanly, what="the sandbox to see the connection closed")


async def test_set_intents_validates_names_and_must_come_before_start(run_ctx: Any) -> None:
    await ez("set_intents", ["Guilds", "GuildMessages", "message_content", "members"])
    intents = runtime().intents
    assert intents.guilds and intents.guild_messages and intents.message_content
    assert intents.members and not intents.presences
    with pytest.raises(EzError, match="unknown intent"):
        await ez("set_intents", ["guildz"])
    await start_and_wait_ready()
    with pytest.raises(EzError, match="before bot_start"):
        await ez("set_intents", ["guilds"])


async def test_disallowed_privileged_intent_names_it_and_the_portal(run_ctx: Any) -> None:
    from ezlang.sandbox import Sandbox

    async with Sandbox(guilds=5, identify_window=0.5, privileged_intents=False) as sb:
        run_ctx.options.update(api=sb.api_url, token=sb.token)
        await ez("bot_start")
        task = runtime().task
        assert task is not None
        with pytest.raises(EzError) as err:
            await asyncio.wait_for(task, 20)
    message = err.value.message
    assert "message_content" in message and "MESSAGE CONTENT INTENT" in message
    assert "developers/applications" in message and "4014" in message


class FakeShardPlugin:
    """What the sharding layer's agent installs in a shard process."""

    def __init__(self, shard_id: int, shard_count: int) -> None:
        self.shard_id = shard_id
        self.shard_count = shard_count
        self.identifies: list[tuple[int, bool]] = []
        self.created: list[Any] = []

    async def before_identify(self, shard_id: int, initial: bool) -> None:
        self.identifies.append((shard_id, initial))

    def client_created(self, client: Any, view: Any) -> None:
        self.created.append((client, view))


async def test_shard_plugin_makes_the_bot_that_shard(run_ctx: Any, control: Control) -> None:
    shard = FakeShardPlugin(1, 2)
    plugin.install(shard)
    view = await start_and_wait_ready()
    assert shard.identifies == [(1, True)]
    assert shard.created and shard.created[0][1] is view
    info = await ez("get_shard_info")
    expected = len(await control.get("/guilds", shard=1, shard_count=2))
    assert info == {"shard_id": 1, "total_shards": 2, "guild_count": expected, "sharded": True}
    assert view.ez_get("shard").ez_get("ids") == [1]
    assert view.ez_get("shard").ez_get("count") == 2


async def test_a_bot_needing_several_shards_shards_itself_and_closes_cleanly(
    run_ctx: Any, control: Control
) -> None:
    from ezlang.sandbox import Sandbox

    async with Sandbox(guilds=1100, identify_window=0.3, seed=2) as sb:
        run_ctx.options.update(api=sb.api_url, token=sb.token)
        shard_ready: list[int] = []
        await ez("listen", "shardReady", shard_ready.append)
        view = await start_and_wait_ready()
        assert sorted(shard_ready) == [0, 1]
        info = await ez("get_shard_info")
        assert info == {"shard_id": None, "total_shards": 2, "guild_count": 1100, "sharded": True}
        assert view.ez_get("shard").ez_get("ids") == [0, 1]
        state = sb.state()
        assert state["identify_violations"] == 0
        await ez("bot_stop")
        await wait_until(lambda: len(sb.state()["closes"]) == 2, what="both shards closed")
        assert [c["code"] for c in sb.state()["closes"]] == [1000, 1000]


async def test_fast_message_path_gives_the_same_object_as_discord_py_parsing(
    run_ctx: Any, control: Control
) -> None:
    seen: list[dict[str, Any]] = []
    await ez("on_message", seen.append)
    await start_and_wait_ready()
    channel = await control.first_text_channel()
    await control.inject(channel, "fast <@1> path")
    await wait_until(lambda: len(seen) == 1)

    # A Python on_message on the client (as a shard plugin might add) needs discord.py's
    # Message, so the runtime falls back to the full parse and converts that object.
    python_seen: list[Any] = []

    async def on_message(message: Any) -> None:
        python_seen.append(message)

    runtime().client.on_message = on_message  # type: ignore[union-attr]
    await control.inject(channel, "fast <@1> path")
    await wait_until(lambda: len(seen) == 2 and python_seen)
    fast, full = seen
    for key in ("id", "created_at", "created_timestamp"):
        assert fast[key] != full[key]
        fast.pop(key), full.pop(key)
    assert fast == full


async def test_react_adds_the_reaction_in_the_sandbox(
    run_ctx: Any, sandbox: Any, control: Control
) -> None:
    def on_message(message: dict[str, Any]) -> None:
        if message["content"] == "!vote":
            b("react")(message, "👍")

    await ez("on_message", on_message)
    await start_and_wait_ready()
    injected = await control.inject(await control.first_text_channel(), "!vote")
    await wait_until(lambda: sandbox.reactions, what="the reaction")
    assert str(sandbox.reactions[0]["message_id"]) == str(injected["id"])
    assert "👍" in str(sandbox.reactions[0])


async def test_dropped_connection_resumes_and_fires_shard_events(
    run_ctx: Any, control: Control
) -> None:
    events: list[Any] = []
    await ez("listen", "shardDisconnect", lambda event, shard_id: events.append(("dc", event)))
    await ez("listen", "shardResume", lambda shard_id: events.append(("resume", shard_id)))
    seen: list[str] = []
    await ez("on_message", lambda m: seen.append(m["content"]))
    await start_and_wait_ready()
    await control.post("/shards/0/disconnect", {"code": 4000})
    await wait_until(lambda: any(e[0] == "resume" for e in events), what="shardResume")
    assert events[0][0] == "dc" and events[0][1]["shard_id"] == 0
    assert ("resume", 0) in events
    await control.inject(await control.first_text_channel(), "after resume")
    await wait_until(lambda: "after resume" in seen)


async def test_shard_plugin_sees_the_client_before_a_rejected_login(run_ctx: Any) -> None:
    shard = FakeShardPlugin(0, 1)
    plugin.install(shard)
    with pytest.raises(EzError, match="401"):
        await ez("bot_start", "wrong-token")
    assert len(shard.created) == 1 and shard.identifies == []


async def test_a_429_is_waited_out_and_too_many_become_a_discord_error(
    run_ctx: Any, sandbox: Any, control: Control
) -> None:
    await start_and_wait_ready()
    channel = await control.first_text_channel()
    sandbox.force_rate_limit(count=1, retry_after=0.2)
    sent = await ez("send_message", channel, "after one 429")
    assert sent["content"] == "after one 429"

    sandbox.force_rate_limit(count=20, retry_after=0.05)  # more than discord.py's retries
    with pytest.raises(EzError) as err:
        await ez("send_message", channel, "never")
    assert err.value.kind == "DiscordError" and "429" in err.value.message
    print(err.value.message)


async def test_ready_runs_once_while_a_new_session_fires_shard_ready_again(
    run_ctx: Any, control: Control
) -> None:
    ready: list[Any] = []
    shard_ready: list[int] = []
    await ez("on_ready", ready.append)
    await ez("listen", "shardReady", shard_ready.append)
    await ez("bot_start")
    await wait_until(lambda: ready and shard_ready, what="first ready")
    await control.post("/shards/0/invalidate", {"resumable": False})  # forces a new IDENTIFY
    await wait_until(lambda: len(shard_ready) == 2, what="second shardReady")
    assert len(ready) == 1


async def test_update_delete_and_guild_events_reach_handlers(
    run_ctx: Any, control: Control
) -> None:
    """The sandbox cannot edit or delete messages, so these gateway payloads are fed to
    discord.py's own parsers of the live client, as its gateway reader would."""
    got: dict[str, list[Any]] = {}

    def record(name: str) -> Any:
        return lambda *args: got.setdefault(name, []).append(args)

    await ez("listen", "messageUpdate", record("update"))
    await ez("listen", "messageDelete", record("delete"))
    await ez("listen", "guildCreate", record("join"))
    await ez("listen", "guildDelete", record("leave"))
    seen: list[dict[str, Any]] = []
    await ez("on_message", seen.append)
    await start_and_wait_ready()
    channel = await control.first_text_channel()
    await control.inject(channel, "original text")
    await wait_until(lambda: seen)
    original = seen[0]
    parsers = runtime().client._connection.parsers  # type: ignore[union-attr]

    edited = {
        "id": original["id"],
        "channel_id": channel,
        "guild_id": original["guild_id"],
        "content": "edited text",
        "author": {"id": original["author"]["id"], "username": original["author"]["username"],
                   "discriminator": "0", "avatar": None, "global_name": None},
        "type": 0,
        "timestamp": original["created_at"],
        "edited_timestamp": "2026-11-26T04:00:00+00:00",
        "mentions": [], "mention_roles": [], "attachments": [], "embeds": [], "pinned": False,
        "mention_everyone": False, "tts": False,
    }  # fmt: skip
    parsers["MESSAGE_UPDATE"](edited)
    await wait_until(lambda: got.get("update"))
    old, new = got["update"][0]
    assert old["content"] == "original text" and new["content"] == "edited text"
    assert new["edited_at"].startswith("2026-11-26T04:00:00")

    parsers["MESSAGE_DELETE"](
        {"id": original["id"], "channel_id": channel, "guild_id": original["guild_id"]}
    )
    await wait_until(lambda: got.get("delete"))
    assert got["delete"][0][0]["content"] == "edited text"  # the last version seen

    parsers["GUILD_CREATE"](
        {"id": "123456789012345678", "name": "New Server", "member_count": 3, "channels": [],
         "roles": [], "emojis": [], "members": [], "owner_id": "1"}
    )  # fmt: skip
    await wait_until(lambda: got.get("join"))
    assert got["join"][0][0]["name"] == "New Server"
    parsers["GUILD_DELETE"]({"id": "123456789012345678"})
    await wait_until(lambda: got.get("leave"))
    assert got["leave"][0][0]["id"] == "123456789012345678"
