"""How ``ezlang run`` hands its flags to the runner (in-process, the runner replaced)."""

from __future__ import annotations

from typing import Any

import pytest

import ezlang.lang.runner
from ezlang import cli


@pytest.fixture
def captured(monkeypatch) -> dict[str, Any]:
    calls: dict[str, Any] = {}

    def fake_run_file(path, **kwargs):
        calls["path"] = str(path)
        calls.update(kwargs)
        return 0

    monkeypatch.setattr(ezlang.lang.runner, "run_file", fake_run_file)
    return calls


def test_run_passes_arguments_debug_and_api(captured, tmp_path):
    prog = tmp_path / "bot.ez"
    prog.write_text("print(1)\n")
    code = cli.main(
        ["run", str(prog), "A=1", "--api", "http://127.0.0.1:9/api/v10", "B=x=y", "--debug"]
    )
    assert code == 0
    assert captured["path"] == str(prog)
    assert captured["arguments"] == {"A": "1", "B": "x=y"}
    assert captured["debug"] is True
    assert captured["options"] == {"api": "http://127.0.0.1:9/api/v10"}
    assert captured["setup"] is None


def test_sandbox_flag_installs_the_sandbox_setup(captured, tmp_path):
    prog = tmp_path / "bot.ez"
    prog.write_text("print(1)\n")
    assert cli.main(["run", str(prog), "--sandbox"]) == 0
    assert captured["setup"] is cli._sandbox_setup
    assert captured["options"] == {}


def test_a_program_without_a_bot_never_imports_discord_aiohttp_or_rich(tmp_path):
    import subprocess
    import sys

    prog = tmp_path / "plain.ez"
    prog.write_text("print(json_stringify({a: [1, 2]}), length(keys({b: 1})))\n")
    driver = (
        "import sys\n"
        "from ezlang.cli import main\n"
        "code = main(['run', sys.argv[1]])\n"
        "from ezlang.lang.registry import BUILTINS\n"
        "assert 'bot_start' in BUILTINS and 'spawn_shards' in BUILTINS  # declared lazily\n"
        "print(sorted(m for m in ('discord', 'aiohttp', 'rich') if m in sys.modules), code)\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", driver, str(prog)], capture_output=True, text=True, timeout=60
    )
    assert res.stdout.splitlines() == ['{"a":[1,2]} 1', "[] 0"], res.stderr
