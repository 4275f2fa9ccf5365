"""A mistyped command names the closest real one instead of argparse's choice list."""

from __future__ import annotations

import pytest

USAGE = "usage: ezlang [-h] [--version] COMMAND ...\n"


@pytest.mark.parametrize(
    ("word", "suggestion"),
    [("runn", "run"), ("chek", "check"), ("reple", "repl"), ("tset", "test")],
)
def test_mistyped_command_suggests_the_closest(ez, word, suggestion):
    res = ez(word, "bot.ez")
    assert (res.returncode, res.stdout) == (2, "")
    assert (
        res.stderr
        == USAGE + f"ezlang: error: unknown command '{word}'; did you mean '{suggestion}'?\n"
    )


def test_unknown_word_lists_the_commands(ez):
    res = ez("frobnicate")
    assert (res.returncode, res.stdout) == (2, "")
    assert res.stderr == USAGE + (
        "ezlang: error: unknown command 'frobnicate' "
        "(commands: run, check, test, repl, sandbox, db)\n"
    )


def test_an_existing_file_without_the_ez_extension_gets_the_run_hint(ez, write, tmp_path):
    write("bot.txt", 'print("hi")\n')
    res = ez("bot.txt", cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr == USAGE + (
        "ezlang: error: unknown command 'bot.txt'; to run this file: ezlang run bot.txt\n"
    )


def test_a_file_ending_in_ez_still_runs_directly(ez, write, tmp_path):
    write("bot.ez", 'print("ran")\n')
    res = ez("bot.ez", cwd=tmp_path)
    assert (res.returncode, res.stdout) == (0, "ran\n"), res.stderr
