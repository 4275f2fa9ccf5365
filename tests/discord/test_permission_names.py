"""Permission names in every spelling bots are ported from, bitfields as strings, and the
errors for names that do not exist — the pure part of ``ezlang.discord.permissions`` — plus
the same builtins from an EasyLang program."""

from __future__ import annotations

from typing import Any

import discord
import pytest

from ezlang.discord import permissions as perms
from ezlang.discord.checks import require_permission, require_role
from ezlang.lang.errors import EzError

BAN = 1 << 2


@pytest.mark.parametrize(
    ("spelling", "bit"),
    [
        ("ban_members", BAN),
        ("BanMembers", BAN),
        ("BAN_MEMBERS", BAN),
        ("Ban Members", BAN),
        ("ViewChannel", 1 << 10),
        ("read_messages", 1 << 10),  # discord.py's older name
        ("SendTTSMessages", 1 << 12),
        ("UseVAD", 1 << 25),
        ("ManageGuildExpressions", 1 << 30),
        ("manage_permissions", 1 << 28),
        ("Manage Server", 1 << 5),
        ("timeout_members", 1 << 40),
        ("PinMessages", 1 << 51),
    ],
)
def test_a_permission_in_every_spelling(spelling: str, bit: int) -> None:
    assert perms.permission_bit(spelling, "t") == bit


def test_names_out_are_discords_documented_names() -> None:
    assert perms.names_of((1 << 10) | (1 << 18) | (1 << 25)) == [
        "view_channel",
        "use_external_emojis",
        "use_vad",
    ]
    # Every bit discord.py knows has exactly one name out, and it reads back to that bit.
    for value, name in perms.NAMES.items():
        assert perms.permission_bit(name, "t") == value
    assert perms.label("ban_members") == "Ban Members"
    assert perms.label("moderate_members") == "Timeout Members"


def test_unknown_names_suggest_the_closest() -> None:
    with pytest.raises(
        EzError, match='unknown permission "ban_member" \\(did you mean "ban_members"\\?\\)'
    ):
        perms.permission_bit("ban_member", "has_permission()")
    with pytest.raises(EzError, match='did you mean "send_messages"'):
        perms.permission_bit("SendMesages", "t")
    with pytest.raises(EzError) as err:
        perms.permission_bit(42, "t")
    assert err.value.kind == "TypeError"


def test_bitfields_are_strings_and_take_every_form() -> None:
    assert perms.create_permission_bitfield(["send_messages", "embed_links"]) == "18432"
    assert perms.create_permission_bitfield("BanMembers") == "4"
    assert perms.create_permission_bitfield([]) == "0"
    assert perms.add_permissions("18432", ["ban_members"]) == "18436"
    assert perms.add_permissions(18432, "send_messages") == "18432"  # already there
    assert perms.remove_permissions("18436", ["send_messages", "ban_members"]) == "16384"
    assert perms.remove_permissions("0", "administrator") == "0"
    # discord.py reads the result back as the same permissions.
    value = int(perms.create_permission_bitfield(["view_channel", "moderate_members"]))
    p = discord.Permissions(value)
    assert p.view_channel and p.moderate_members and not p.send_messages
    with pytest.raises(EzError, match="bitfield string"):
        perms.add_permissions(-1, "ban_members")
    with pytest.raises(EzError, match="unknown permission"):
        perms.remove_permissions("1", ["nope"])


def test_every_module_parses_and_names_permissions_alike() -> None:
    """Roles, command defaults, channel overwrites and refusals use the one name table."""
    from types import SimpleNamespace

    from ezlang.discord import channels, commands, lookups, members

    view_send = str(1 << 10 | 1 << 11)
    fields = members._role_fields({"permissions": ["ViewChannel", "SEND_MESSAGES"]}, "t")
    assert fields["permissions"] == view_send
    assert commands.permissions_value(["Ban Members", "KickMembers"], "t") == str(0b110)
    [over] = channels._overwrites(
        [{"id": "5", "allow": ["read_messages"], "deny": "BanMembers"}], "t"
    )
    assert (over["allow"], over["deny"]) == (str(1 << 10), str(1 << 2))
    for bad in (
        lambda: members._role_fields({"permissions": ["ban_member"]}, "create_role()"),
        lambda: commands.permissions_value("ban_member", "slash_command()"),
        lambda: channels._overwrites([{"id": "5", "allow": ["ban_member"]}], "create_channel()"),
    ):
        with pytest.raises(EzError, match='did you mean "ban_members"'):
            bad()
    # Out: Discord's names from a role JSON and from discord.py's Role alike.
    data = {"id": "9", "name": "r", "permissions": view_send, "position": 1}
    assert members.role_from_payload(data, 1)["permissions"] == ["view_channel", "send_messages"]
    role = discord.Role(guild=SimpleNamespace(id=1), state=None, data=data)  # type: ignore[arg-type]
    assert lookups.role_object(role)["permissions"] == ["view_channel", "send_messages"]


def test_check_values_name_what_they_check() -> None:
    assert require_permission("BAN_MEMBERS") == {"kind": "permission", "permission": "ban_members"}
    assert require_role({"id": "123"}) == {"kind": "role", "role_id": "123"}
    with pytest.raises(EzError, match='did you mean "kick_members"'):
        require_permission("kick_member")


async def test_the_builtins_from_easylang(ezlang_run: Any) -> None:
    program = """let b = create_permission_bitfield(["send_messages", "EmbedLinks"])
print(b + " " + type(b))
print(add_permissions(b, "BAN_MEMBERS"))
print(remove_permissions(add_permissions(b, ["ban_members"]), ["send_messages"]))
print(json_stringify(require_permission("Ban Members")))
try { create_permission_bitfield(["send_messagez"]) } catch err { print(err.kind + ": " + err.message) }
"""
    proc = await ezlang_run(program)
    assert await proc.wait_exit() == 0, proc.stderr
    assert proc.out == [
        "18432 string",
        "18436",
        "16388",
        '{"kind":"permission","permission":"ban_members"}',
        'ValueError: create_permission_bitfield(): unknown permission "send_messagez" '
        '(did you mean "send_messages"?); permissions are named like "send_messages", '
        '"BanMembers" or "MANAGE_ROLES"',
    ]


def test_each_declared_builtin_is_registered_by_its_module() -> None:
    import importlib

    from ezlang import extensions
    from ezlang.lang.registry import BUILTINS

    for names, module in (
        (extensions.PERMISSION_BUILTINS, "ezlang.discord.permissions"),
        (extensions.CHECK_BUILTINS, "ezlang.discord.checks"),
        (extensions.INTERACTION_BUILTINS, "ezlang.discord.interactions"),
    ):
        importlib.import_module(module)
        lazy = [n for n in names if getattr(BUILTINS.get(n), "__module__", "").endswith("registry")]
        assert lazy == [], module
    for name in ("register_command", "register_user_context_menu", "run_checks"):
        assert name in BUILTINS


def test_the_sandbox_names_each_bit_as_the_bot_side_does() -> None:
    """The sandbox keeps its own table, from Discord's documentation (it shares no code with
    the bot side, so a mistake can not hide by being made on both); the two must agree."""
    from ezlang.sandbox import permissions as sandbox

    for name, bit in sandbox.FLAGS.items():
        assert perms.NAMES.get(bit) == name, (name, bit)
    assert sandbox.names(1 << 10 | 1 << 18) == perms.names_of(1 << 10 | 1 << 18)
