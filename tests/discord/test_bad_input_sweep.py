"""A bad-input sweep over the Discord builtins: one real ``ezlang run`` bot against the sandbox
calls every builtin of the swept tuples in ``ezlang.extensions`` with wrong argument shapes
(nothing, ``null``, a number, a string that is not an id, an empty object, an array, a
function, a huge number, an id of nothing that exists) and reports what each call did.

Every call must either succeed (a builtin that legitimately takes such input, such as
``list_guilds()``) or raise an EasyLang error of a documented kind with a message, located in
the bot's file — never a Python traceback and never an ``internal error (...)``. The call list
is generated from the tuples, so a builtin added to one of them later is swept too.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from ezlang import extensions
from ezlang.lang.errors import KINDS

from .conftest import Control
from .processes import sandbox_args

pytestmark = pytest.mark.timeout(300)

SWEPT = (
    extensions.MESSAGE_BUILTINS
    + extensions.LOOKUP_BUILTINS
    + extensions.GUILD_EDIT_BUILTINS
    + extensions.MEMBER_BUILTINS
    + extensions.MODERATION_BUILTINS
    + extensions.PERMISSION_BUILTINS
    + extensions.CHECK_BUILTINS
    + extensions.WEBHOOK_BUILTINS
    + extensions.INVITE_BUILTINS
    + extensions.POLL_BUILTINS
    + extensions.AUDIT_LOG_BUILTINS
    + extensions.INTENT_BUILTINS
    + extensions.CHANNEL_BUILTINS
    + extensions.THREAD_BUILTINS
    + extensions.MESSAGING_BUILTINS
    + extensions.DISCORD_BUILTINS
    + extensions.INTERACTION_BUILTINS
)

#: Builtins that must not be called this way, each with its reason. Keep this list short: a
#: builtin is only skipped when calling it with nonsense would end or reconfigure the sweep
#: itself, not because it misbehaves.
SKIP: dict[str, str] = {
    "bot_start": "would start a second bot inside the sweeping one",
    "bot_stop": "ends the bot the sweep runs in",
    # These wait for an event by design (wait_for_message() without a timeout waits forever,
    # wait_for_component 60 s): swept below through BOUNDED, with a short timeout.
    "wait_for_message": "waits for a message; swept through BOUNDED",
    "wait_for_reaction": "waits for a reaction; swept through BOUNDED",
    "wait_for_component": "waits for a click; swept through BOUNDED",
}

#: The waiting builtins with each shape ({S}) where it can be wrong and a 0.05 s timeout, so
#: a call that (rightly) waits ends at once. (Their timeout itself is not swept: any number is
#: a valid timeout, and a big one rightly waits that long.)
BOUNDED = {
    "wait_for_message": ("wait_for_message({S}, 0.05)",),
    "wait_for_reaction": (
        "wait_for_reaction({S}, null, 0.05)",
        "wait_for_reaction(good.message, {S}, 0.05)",
    ),
    "wait_for_component": ("wait_for_component({S}, {timeout: 0.05})",),
}

#: The wrong argument shapes, as EasyLang source. ``NOID`` looks like a snowflake but names
#: nothing in the sandbox.
NOID = '"123456789012345678"'
SHAPES = {
    "null": "null",
    "number": "12345",
    "text": '"not an id"',
    "object": "{}",
    "array": '["x", 2]',
    "function": "func() { return 1 }",
    "huge": "1e300",
    "bigint": "99999999999999999999999999",
    "noid": NOID,
}


#: Builtins that remove or lock out a real thing when called with it alone (legitimately).
DESTRUCTIVE = frozenset(
    {"delete_channel", "delete_message", "delete_role", "kick_member", "ban_member",
     "bulk_ban_members", "bulk_delete", "lock_thread", "archive_thread"}
)  # fmt: skip

#: A Python repr leaking into a message (None, True, a dict's quotes, a function's address).
PYTHON_REPR = re.compile(r"\b(None|True|False)\b|<locals>| at 0x|\{'|\bNoneType\b")

#: Real things the bot looks up after ready (see ``_program``), passed as the first argument so
#: that the checks of the later arguments are reached too.
GOODS = ("message", "channel", "guild", "member", "role")


def _calls() -> list[tuple[str, str]]:
    """(label, EasyLang call) for every swept builtin: each shape as 1 to 3 arguments, then a
    real thing alone and followed by each shape."""
    calls: list[tuple[str, str]] = []
    for name in SWEPT:
        if name in SKIP:
            continue
        calls.append((f"{name}|none", f"{name}()"))
        for shape, src in SHAPES.items():
            for n in (1, 2, 3):
                calls.append((f"{name}|{shape}x{n}", f"{name}({', '.join([src] * n)})"))
    for name, templates in BOUNDED.items():
        for i, template in enumerate(templates):
            for shape, src in SHAPES.items():
                calls.append((f"{name}|bounded{i}+{shape}", template.replace("{S}", src)))
    # Destructive builtins are swept last, so a real thing they remove on (legitimately
    # acceptable) input, such as delete_channel(channel), does not change what the others see.
    for name in sorted(SWEPT, key=lambda n: n in DESTRUCTIVE):
        if name in SKIP:
            continue
        for good in GOODS:
            calls.append((f"{name}|{good}", f"{name}(good.{good})"))
            for shape, src in SHAPES.items():
                calls.append((f"{name}|{good}+{shape}", f"{name}(good.{good}, {src})"))
                calls.append((f"{name}|{good}+{shape}x2", f"{name}(good.{good}, {src}, {src})"))
    return calls


def _program(calls: list[tuple[str, str]]) -> str:
    lines = [
        "func one(label, f) {",
        "    try {",
        "        f()",
        '        print("R|" + label + "|ok")',
        "    } catch err {",
        "        let where = err.stack",
        '        let at = ""',
        "        if length(where) > 0 { at = where[length(where) - 1] }",
        '        print("R|" + label + "|" + err.kind + "|" + at + "|"'
        ' + replace(err.message, "\\n", " / "))',
        "    }",
        "}",
        "func sweep(good) {",
    ]
    lines += [f'    one("{label}", func() {{ {call} }})' for label, call in calls]
    lines += [
        "}",
        "on_ready(func(client) {",
        '    print("ready")',
        '    let gid = get_argument("GUILD")',
        '    let cid = get_argument("CHANNEL")',
        '    let good = {message: fetch_message(cid, get_argument("MESSAGE")),'
        " channel: get_channel(cid), guild: get_guild(gid),"
        ' member: fetch_member(gid, get_argument("MEMBER")),'
        ' role: get_role(gid, get_argument("ROLE"))}',
        '    print("goods " + json_stringify([good.message.id, good.channel.id, good.guild.id,'
        " good.member.id, good.role.id]))",
        "    sweep(good)",
        '    print("sweep done")',
        "})",
        "on_message(func(m) {",
        '    if m.content == "!alive" { reply(m, "still here") }',
        "})",
        "bot_start()",
    ]
    return "\n".join(lines) + "\n"


def _parse(out: list[str]) -> dict[str, list[str]]:
    results: dict[str, list[str]] = {}
    for line in out:
        if line.startswith("R|"):
            name, shape, *rest = line[2:].split("|", 4)
            results[f"{name}|{shape}"] = rest
    return results


async def test_every_builtin_answers_bad_input_with_a_clear_easylang_error(
    sandbox: Any, control: Control, ezlang_run: Any
) -> None:
    calls = _calls()
    channel = await control.first_text_channel()
    ref = sandbox.world.channel(int(channel))
    member = sandbox.world.member_ids(ref.guild_index)[1]
    role = sandbox.world.roles(ref.guild_index)[-1]["id"]
    message = (await control.inject(channel, "a message to sweep with"))["id"]
    started = time.monotonic()
    bot = await ezlang_run(
        _program(calls),
        *sandbox_args(sandbox),
        f"GUILD={ref.guild_id}",
        f"CHANNEL={channel}",
        f"MEMBER={member}",
        f"ROLE={role}",
        f"MESSAGE={message}",
    )
    await bot.wait_line("^ready$", timeout=60)
    try:
        await bot.wait_line("^sweep done$", timeout=150)
    except AssertionError:
        # A builtin that hangs (or ends the bot): it is the call after the last one reported.
        done = [line for line in bot.out if line.startswith("R|")]
        stuck = calls[len(done)][1] if len(done) < len(calls) else "?"
        raise AssertionError(f"the sweep stopped at {stuck}\n{bot.stderr[-3000:]}") from None
    # The real things were found, so the second round reached the later arguments.
    goods = json.loads(next(x for x in bot.out if x.startswith("goods "))[6:])
    assert goods == [str(message), channel, str(ref.guild_id), str(member), str(role)]
    elapsed = time.monotonic() - started
    results = _parse(bot.out)
    assert len(results) == len(calls), "some calls printed nothing"
    problems: list[str] = []
    for label, rest in results.items():
        if rest == ["ok"]:
            continue
        kind, at, message = rest[0], rest[1], rest[2] if len(rest) > 2 else ""
        if kind not in KINDS:
            problems.append(f"{label}: undocumented kind {kind!r}")
        if not message.strip():
            problems.append(f"{label}: empty message")
        if "internal error" in message:
            problems.append(f"{label}: {message}")
        if PYTHON_REPR.search(message):
            problems.append(f"{label}: a Python repr in the message: {message}")
        if "bot.ez:" not in at:
            problems.append(f"{label}: not located in bot.ez ({at!r}): {message}")
    assert not problems, "\n".join(problems)
    # Escapes this sweep found once, each fixed where it arose: they stay errors.
    expected = {
        "delete_channel|message": "TypeError",  # deleted the message's whole channel
        "edit_channel|message+object": "TypeError",
        "add_reaction|message+text": "ValueError",  # plain text is not an emoji
        "send_dm|member+function": "TypeError",  # sent "<function anonymous>"
        "get_invite|textx1": "ValueError",  # discord.py's own wording, no builtin named
        "delete_role|hugex1": "ValueError",  # 1e300 taken as an id
        "has_permissions|member+huge": "ValueError",  # 1e300 taken as a bitfield
        "react|message+text": "ValueError",  # as add_reaction
        "embed_set_title|message+text": "TypeError",  # set a title on a message object
    }
    assert {k: results[k][0] for k in expected} == expected
    assert "Traceback" not in bot.stderr, bot.stderr
    assert "internal error" not in bot.stderr + bot.stdout
    assert "never retrieved" not in bot.stderr, bot.stderr
    # Still alive, and still answering.
    assert bot.proc.returncode is None
    # (In a channel the sweep did not delete: delete_channel(good.channel) legitimately does.)
    other = next(
        str(c["id"])
        for c in sandbox.world.channels(ref.guild_index)
        if c.get("type", 0) == 0 and str(c["id"]) != channel
    )
    await control.inject(other, "!alive")
    await control.wait_for_bot_message(other, lambda m: m["content"] == "still here")
    assert "Traceback" not in bot.stderr, bot.stderr
    print(f"swept {len(SWEPT) - len(SKIP)} builtins, {len(calls)} calls in {elapsed:.1f} s")
