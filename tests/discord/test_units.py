"""Small pure pieces of the bot runtime: intents, API URLs, ids, message payloads, arity."""

from __future__ import annotations

from typing import Any

import pytest

from ezlang.discord import connect, convert
from ezlang.discord.runtime import (
    IdentifyGate,
    _arity,
    default_intents,
    parse_intents,
    privileged_of,
)
from ezlang.lang.errors import EzError


def test_default_intents_are_what_a_command_bot_needs() -> None:
    intents = default_intents()
    assert intents.guilds and intents.guild_messages and intents.dm_messages
    assert intents.message_content
    assert not intents.members and not intents.presences
    assert privileged_of(intents) == ["message_content"]


@pytest.mark.parametrize(
    ("name", "flag"),
    [
        ("GuildMembers", "members"),
        ("guild_members", "members"),
        ("DirectMessages", "dm_messages"),
        ("MessageContent", "message_content"),
        ("guild presences", "presences"),
        ("GuildMessageReactions", "guild_reactions"),
    ],
)
def test_intent_names_in_every_spelling(name: str, flag: str) -> None:
    assert getattr(parse_intents([name]), flag)


def test_intents_replace_the_defaults_and_default_all_work() -> None:
    only = parse_intents(["guilds"])
    assert only.guilds and not only.guild_messages
    assert parse_intents(["default", "members"]).members
    assert parse_intents(["all"]).presences


def test_bad_intents_are_clear_errors() -> None:
    with pytest.raises(EzError, match='unknown intent "guildz"'):
        parse_intents(["guildz"])
    with pytest.raises(EzError, match="array of intent names"):
        parse_intents(42)


def test_api_base_from_option_environment_and_default(monkeypatch: Any) -> None:
    monkeypatch.delenv(connect.API_ENV, raising=False)
    assert connect.api_base({}) == connect.DISCORD_API
    monkeypatch.setenv(connect.API_ENV, "http://127.0.0.1:9/api/v10/")
    assert connect.api_base({}) == "http://127.0.0.1:9/api/v10"
    assert connect.api_base({"api": "http://localhost:8080"}) == "http://localhost:8080/api/v10"
    with pytest.raises(EzError, match="not an http"):
        connect.api_base({"api": "ftp://nope"})


def test_discord_error_bodies_become_discords_message() -> None:
    body = '{"message": "Missing Permissions", "code": 50013}'
    assert connect.discord_message(body) == "Missing Permissions (error code 50013)"
    assert connect.discord_message("plain text") == "plain text"


def test_ids_accept_strings_and_numbers_only() -> None:
    assert convert.snowflake_arg("123", what="x") == 123
    assert convert.snowflake_arg(123, what="x") == 123
    assert convert.channel_id_of({"channel_id": "5", "id": "9"}, what="x") == 5
    for bad in (None, True, "general", -1, 1.5):
        with pytest.raises(EzError, match="must be an id"):
            convert.snowflake_arg(bad, what="x")


def test_message_from_payload_is_plain_data() -> None:
    payload = {
        "id": "1175353600408813568",
        "channel_id": "20",
        "guild_id": "30",
        "content": "!ping",
        "timestamp": "2023-11-20T12:00:00.000000+00:00",
        "author": {"id": "40", "username": "ada", "discriminator": "0", "global_name": "Ada"},
        "member": {"nick": "Countess"},
        "mentions": [{"id": "50"}],
        "embeds": [],
    }
    message = convert.message_from_payload(payload)
    assert message == {
        "id": "1175353600408813568",
        "content": "!ping",
        "channel_id": "20",
        "guild_id": "30",
        "author": {
            "id": "40",
            "username": "ada",
            "tag": "ada",
            "bot": False,
            "display_name": "Countess",
        },
        "created_at": "2023-11-20T12:00:00.000000+00:00",
        "created_timestamp": (1175353600408813568 >> 22) + 1_420_070_400_000,
        "edited_at": None,
        "mentions": ["50"],
        "embeds": [],
        "partial": False,
    }
    legacy = convert.message_from_payload(
        {**payload, "author": {"id": "1", "username": "old", "discriminator": "1234"}}
    )
    assert legacy["author"]["tag"] == "old#1234"


def test_handlers_arity() -> None:
    def two(a: Any, b: Any) -> None: ...

    def star(*args: Any) -> None: ...

    assert _arity(lambda: None) == 0
    assert _arity(two) == 2
    assert _arity(star) is None
    assert _arity([].append) == 1


async def test_identify_gate_spaces_identifies_per_bucket() -> None:
    import time

    gate = IdentifyGate(max_concurrency=2, window=0.2)
    t0 = time.monotonic()
    await gate.acquire(0)
    await gate.acquire(1)  # another bucket: no wait
    assert time.monotonic() - t0 < 0.1
    await gate.acquire(2)  # bucket 0 again: a full window plus margin later
    assert time.monotonic() - t0 >= 0.2 + gate.margin - 0.01


def test_discord_objects_compare_by_content_like_every_object() -> None:
    from ezlang.lang.values import equals

    a = convert.UserObject({"id": "1", "name": "ann"})
    b = convert.UserObject({"id": "1", "name": "ann"})
    assert a is not b and equals(a, b)
    assert equals(a, {"id": "1", "name": "ann"}) and equals({"id": "1", "name": "ann"}, a)
    assert not equals(a, convert.UserObject({"id": "2", "name": "ann"}))
    assert not equals(a, ["id", "name"])


def test_role_and_audit_log_options_name_the_closest_on_a_typo() -> None:
    """create_role/edit_role and fetch_audit_logs check options like every builtin does."""
    from ezlang.discord import members

    assert members._options({"colour": 1, "hoist": True}, "t") == {"colour": 1, "hoist": True}
    with pytest.raises(
        EzError, match=r"create_role\(\) has no option 'colr' \(did you mean 'color'\?\)"
    ):
        members._options({"colr": "#fff"}, "create_role()")
    with pytest.raises(EzError, match="options must be an object"):
        members._options(["color"], "edit_role()")
