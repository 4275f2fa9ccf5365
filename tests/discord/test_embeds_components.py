"""Embeds, components, modals and command declarations: what the builders make, and the
positioned EasyLang error every rule of Discord's gets before anything is sent — through
real ``ezlang run`` processes."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path

import pytest

from ezlang.discord import command_sync, commands, components, embeds
from ezlang.lang.errors import EzError

pytestmark = pytest.mark.timeout(120)


async def _run(path: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ezlang", "run", str(path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_builders_make_discord_shaped_objects(tmp_path: Path) -> None:
    program = tmp_path / "builders.ez"
    program.write_text(
        """let e = create_embed({title: "Hi", description: "there", color: "#ff0000",
    footer: "feet", author: {name: "me", icon_url: "https://x.test/a.png"},
    image: "https://x.test/i.png", fields: [{name: "a", value: "b"}]})
embed_add_field(e, "c", "d", true)
embed_set_thumbnail(e, "https://x.test/t.png")
embed_set_timestamp(e, 0)
print(json_stringify(e))
let old = create_embed("Title", "Text", 255)
print(json_stringify(old))
print(json_stringify(create_action_row(create_button("Yes", "success", "vote:yes"),
    create_link_button("Docs", "https://example.com"))))
print(json_stringify(create_string_select("pick", ["a", {label: "B", value: "b"}], {max: 2})))
print(json_stringify(create_string_select("old", "Pick one", ["x", "y"])))
print(json_stringify(create_user_select("who", "Pick a user")))
print(json_stringify(create_modal("form", "Tell me", [create_text_input("name", "Name", "short", {max: 40})])))
let m = create_modal("form2", "Old style")
add_modal_text_input(m, "bio", "Bio", "paragraph", "about you", false, 500)
print(json_stringify(m))
"""
    )
    code, out, err = await _run(program)
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    embed, old, row, select, old_select, user_select, modal, old_modal = lines
    assert embed["color"] == 0xFF0000 and embed["footer"] == {"text": "feet"}
    assert embed["author"] == {"name": "me", "icon_url": "https://x.test/a.png"}
    assert embed["image"] == {"url": "https://x.test/i.png"}
    assert embed["thumbnail"] == {"url": "https://x.test/t.png"}
    assert embed["fields"] == [
        {"name": "a", "value": "b", "inline": False},
        {"name": "c", "value": "d", "inline": True},
    ]
    assert embed["timestamp"].startswith("1970-01-01T00:00:00")
    assert old == {"title": "Title", "description": "Text", "color": 255}
    assert [c["type"] for c in row["components"]] == ["button", "button"]
    assert row["components"][0]["custom_id"] == "vote:yes"
    assert row["components"][1] == {
        "type": "button",
        "style": "link",
        "label": "Docs",
        "url": "https://example.com",
        "disabled": False,
    }
    assert select["options"] == [{"label": "a", "value": "a"}, {"label": "B", "value": "b"}]
    assert select["max_values"] == 2
    assert old_select["placeholder"] == "Pick one" and len(old_select["options"]) == 2
    assert user_select == {
        "type": "user_select",
        "custom_id": "who",
        "placeholder": "Pick a user",
        "min_values": 1,
        "max_values": 1,
        "disabled": False,
    }
    assert modal["inputs"][0]["max_length"] == 40
    assert old_modal["inputs"][0] == {
        "type": "text_input",
        "custom_id": "bio",
        "label": "Bio",
        "style": "paragraph",
        "required": False,
        "max_length": 500,
        "placeholder": "about you",
    }


LONG_ID = "x" * 101

# (program, line, the words the error must contain)
BAD_PROGRAMS = [
    (f'print(1)\ncreate_button("Go", "primary", "{LONG_ID}")\n', 2, "at most 100"),
    ('create_button("Go", "purple", "go")\n', 1, "unknown button style"),
    (
        "let opts = []\nfor i in range(26) { append(opts, str(i)) }\n"
        'create_string_select("pick", opts)\n',
        3,
        "at most 25",
    ),
    (
        'let b = func(i) { return create_button("b", "primary", "b" + str(i)) }\n'
        "create_action_row(b(1), b(2), b(3), b(4), b(5), b(6))\n",
        2,
        "at most 5",
    ),
    (f'create_embed({{title: "{"t" * 257}"}})\n', 1, "at most 256"),
    (
        'let e = create_embed({title: "many"})\n'
        'for i in range(26) { embed_add_field(e, "f" + str(i), "v") }\n',
        2,
        "at most 25 fields",
    ),
    (
        f'create_embed({{description: "{"d" * 4000}", fields: [{{name: "a", value: "{"v" * 1024}"}},'
        f' {{name: "b", value: "{"v" * 1024}"}}]}})\n',
        1,
        "at most 6000",
    ),
    ('create_embed({title: "x", color: "rainbow"})\n', 1, "unknown color"),
    ('create_embed({titel: "x"})\n', 1, "unknown embed field(s) titel"),
    (
        'slash_command("echo", "Echo", {options: [{name: "text", type: "text"}]}, func(i) {})\n',
        1,
        "unknown option type",
    ),
    (
        "let c = []\nfor i in range(26) { append(c, str(i)) }\n"
        'slash_command("pick", "Pick", {options: [{name: "n", type: "string", choices: c}]},'
        " func(i) {})\n",
        3,
        "at most 25",
    ),
    ('slash_command("Echo", "Echo", func(i) {})\n', 1, "lowercase"),
    ('slash_command("say hi", "Echo", func(i) {})\n', 1, "only letters, digits"),
    (f'slash_command("echo", "{"d" * 101}", func(i) {{}})\n', 1, "at most 100"),
    (
        'slash_command("echo", "Echo", {options: [{name: "a", type: "string"},'
        ' {name: "b", type: "string", required: true}]}, func(i) {})\n',
        1,
        "required options first",
    ),
    (
        'slash_command("find", "Find", {options: [{name: "q", type: "string"}]}, func(i) {})\n'
        'on_autocomplete("find", "q", func(i, text) { return [] })\n',
        2,
        "autocomplete: true",
    ),
    (
        "let inputs = []\nfor i in range(6) {"
        ' append(inputs, create_text_input("f" + str(i), "Field", "short")) }\n'
        'create_modal("form", "Form", inputs)\n',
        3,
        "at most 5 text inputs",
    ),
    ('create_text_input("name", "' + "L" * 46 + '", "short")\n', 1, "allows 45"),
    ('user_command("Report", func(i) {})\nuser_command("Report", func(i) {})\n', 2, "already"),
    # The older EasyLang's statement names the builtin that does it now.
    ('print(1)\nregister slash command "ping"\n', 2, 'slash_command("name", "description"'),
]


async def test_every_rule_gives_a_positioned_error_before_sending(tmp_path: Path) -> None:
    paths = []
    for n, (source, _line, _words) in enumerate(BAD_PROGRAMS):
        path = tmp_path / f"bad{n}.ez"
        path.write_text(source)
        paths.append(path)
    results = await asyncio.gather(*(_run(p) for p in paths))
    for (source, line, words), path, (code, _out, err) in zip(
        BAD_PROGRAMS, paths, results, strict=True
    ):
        assert code == 1, (source, err)
        assert words in err, (source, err)
        assert re.search(rf"{path.name}:{line}:\d+", err), (source, err)
        assert "Traceback" not in err, err


def test_loose_components_fill_rows_and_a_message_holds_five_rows() -> None:
    buttons = [components.create_button(str(n), "primary", f"b{n}") for n in range(7)]
    select = components.create_string_select("s", ["a"])
    rows = components.rows_of([*buttons, select], "send_message()")
    assert [len(r) for r in rows] == [5, 2, 1]
    many = [components.create_action_row(b) for b in buttons[:6]]
    with pytest.raises(EzError, match="at most 5"):
        components.rows_of(many, "send_message()")
    with pytest.raises(EzError, match="used twice"):
        components.rows_of([buttons[0], dict(buttons[0])], "send_message()")


async def test_views_serialise_to_discord_json_and_are_not_kept_by_discord_py() -> None:
    rows = [
        components.create_action_row(
            components.create_button("Yes", "success", "vote:yes"),
            components.create_link_button("Docs", "https://example.com"),
        ),
        components.create_channel_select("where", {"channel_types": ["text"]}),
    ]
    view = components.view_of(rows, "test")
    assert view.is_finished()  # so discord.py does not store it: routing is by custom id
    data = view.to_components()
    assert data[0]["components"][0] == {
        "type": 2,
        "style": 3,
        "label": "Yes",
        "custom_id": "vote:yes",
        "disabled": False,
    }
    assert data[0]["components"][1]["url"] == "https://example.com"
    assert data[1]["components"][0]["type"] == 8
    assert data[1]["components"][0]["channel_types"] == [0]
    modal = components.modal_of(
        components.create_modal(
            "form", "Form", [components.create_text_input("bio", "Bio", "paragraph", {"min": 2})]
        ),
        "test",
    )
    assert modal.to_dict()["components"][0]["components"][0]["style"] == 2


def test_embeds_over_the_limits_of_one_message_are_refused() -> None:
    big = {"description": "d" * 3500}
    with pytest.raises(EzError, match="6000 over all embeds"):
        embeds.to_discord([big, big], "send_message()")
    with pytest.raises(EzError, match="at most 10 embeds"):
        embeds.to_discord([{"title": "t"}] * 11, "send_message()")


def test_commands_compare_equal_to_what_discord_returns() -> None:
    cmd = commands.declare_slash(
        "echo",
        "Echo",
        {
            "options": [
                {"name": "text", "type": "string", "required": True, "max": 50},
                {"name": "times", "type": "integer", "min": 1, "max": 5},
            ],
            "guild_only": True,
            "default_permissions": "manage_guild",
        },
        lambda i: None,
    )
    payload = cmd.payload
    assert payload["options"][0] == {
        "type": 3,
        "name": "text",
        "description": "text",
        "required": True,
        "max_length": 50,
    }
    assert payload["default_member_permissions"] == str(1 << 5)
    # What Discord answers carries ids, versions and defaults; the fingerprint ignores them.
    returned = {
        **payload,
        "id": "1",
        "application_id": "2",
        "version": "3",
        "dm_permission": False,
        "integration_types": [0],
        "options": [dict(o, description_localizations=None) for o in payload["options"]],
    }
    assert command_sync.fingerprint([payload]) == command_sync.fingerprint([returned])
    changed = dict(returned, description="Echo!")
    assert command_sync.fingerprint([payload]) != command_sync.fingerprint([changed])


def test_every_interaction_builtin_is_registered_by_its_module() -> None:
    import ezlang.discord.interactions  # noqa: F401  (registers them)
    from ezlang.extensions import INTERACTION_BUILTINS
    from ezlang.lang.registry import BUILTINS

    missing = [
        name
        for name in INTERACTION_BUILTINS
        if name not in BUILTINS
        or getattr(BUILTINS[name], "__module__", "").startswith("ezlang.lang.registry")
    ]
    assert not missing


async def test_commands_without_bot_start_are_reported(tmp_path: Path) -> None:
    program = tmp_path / "nostart.ez"
    program.write_text(
        'slash_command("ping", "p", func(i) { interaction_reply(i, "pong") })\n'
        'on_button("vote:", func(i) {})\nprint("declared")\n'
    )
    code, out, err = await _run(program)
    assert out.strip() == "declared"
    assert code == 1
    assert "(commands and component handlers) but never called bot_start()" in err
    assert "Traceback" not in err
