"""Keeping the bot token private: ``.env`` next to the script, and a warning for ``TOKEN=…``.

A process's command line is readable by every local user (``ps``), so the token belongs in
the environment (``DISCORD_TOKEN``) or in a ``.env`` file next to the script.
"""

from __future__ import annotations

import pytest

SHOW = (
    'print(get_env("DISCORD_TOKEN"), get_env("EZ_DOTENV_EXTRA"), get_argument("EZ_DOTENV_EXTRA"))\n'
)


@pytest.fixture(autouse=True)
def _no_token_in_the_test_environment(monkeypatch):
    # The child inherits os.environ: make sure what it sees comes from the test alone.
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    monkeypatch.delenv("EZ_DOTENV_EXTRA", raising=False)


def test_dotenv_next_to_the_script_is_read_before_the_program_runs(ez, write, tmp_path):
    write("bot/show.ez", SHOW)
    write("bot/.env", 'DISCORD_TOKEN=token-from-dotenv\nEZ_DOTENV_EXTRA="two words"\n')
    # A .env in the working directory is not the script's: it must be ignored.
    write(".env", "DISCORD_TOKEN=wrong-file\n")
    res = ez("run", "bot/show.ez", cwd=tmp_path)
    assert (res.returncode, res.stderr) == (0, "")
    assert res.stdout == "token-from-dotenv two words two words\n"


def test_the_environment_wins_over_dotenv(ez, write, tmp_path):
    write("show.ez", SHOW)
    write(".env", "DISCORD_TOKEN=token-from-dotenv\nEZ_DOTENV_EXTRA=from-file\n")
    res = ez("run", "show.ez", cwd=tmp_path, env={"DISCORD_TOKEN": "token-from-env"})
    assert (res.returncode, res.stderr) == (0, "")
    assert res.stdout == "token-from-env from-file from-file\n"


def test_without_dotenv_nothing_is_set(ez, write, tmp_path):
    write("show.ez", SHOW)
    res = ez("run", "show.ez", cwd=tmp_path)
    assert (res.returncode, res.stdout, res.stderr) == (0, "null null null\n", "")


def test_token_argument_still_works_but_warns_without_showing_the_token(ez, write, tmp_path):
    write("arg.ez", 'print(length(get_argument("TOKEN")))\n')
    secret = "mfa.SECRET-token-value-123"
    res = ez("run", "arg.ez", f"TOKEN={secret}", cwd=tmp_path)
    assert res.returncode == 0
    assert res.stdout == f"{len(secret)}\n"
    warnings = res.stderr.splitlines()
    assert len(warnings) == 1
    assert "warning" in warnings[0] and "TOKEN=" in warnings[0] and "ps" in warnings[0]
    assert "DISCORD_TOKEN" in warnings[0] and ".env" in warnings[0]
    assert secret not in res.stderr and "SECRET" not in res.stderr


def test_other_token_like_arguments_warn_too_and_plain_arguments_do_not(ez, write, tmp_path):
    write("arg.ez", 'print(get_argument("ROUNDS"))\n')
    res = ez("run", "arg.ez", "ROUNDS=3", cwd=tmp_path)
    assert (res.returncode, res.stdout, res.stderr) == (0, "3\n", "")
    res = ez("run", "arg.ez", "DISCORD_TOKEN=abc", "ROUNDS=3", cwd=tmp_path)
    assert res.stdout == "3\n"
    assert res.stderr.count("\n") == 1 and "DISCORD_TOKEN=…" in res.stderr
    assert "abc" not in res.stderr


def test_an_unreadable_dotenv_is_a_clear_usage_error(ez, write, tmp_path):
    write("show.ez", SHOW)
    (tmp_path / ".env").write_bytes(b"DISCORD_TOKEN=\xff\xfe\n")
    res = ez("run", "show.ez", cwd=tmp_path)
    assert res.returncode == 2 and res.stdout == ""
    assert ".env" in res.stderr and "not UTF-8" in res.stderr
    assert "Traceback" not in res.stderr


def test_a_malformed_dotenv_line_is_reported_and_the_rest_is_read(ez, write, tmp_path):
    write("show.ez", SHOW)
    write(".env", "this line is not an assignment\nDISCORD_TOKEN=token-from-dotenv\n")
    res = ez("run", "show.ez", cwd=tmp_path)
    assert res.returncode == 0
    assert res.stdout == "token-from-dotenv null null\n"
    assert "line 1" in res.stderr and "Traceback" not in res.stderr
