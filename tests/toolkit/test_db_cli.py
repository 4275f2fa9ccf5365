"""``ezlang db``: list, get, set, delete and incr from the shell, on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Backend, ezlang

pytestmark = pytest.mark.timeout(120)


def test_edit_from_the_shell_and_read_from_a_program(tmp_path: Path, backend: Backend) -> None:
    def db(*args: str) -> tuple[int, str, str]:
        result = ezlang("db", *backend.cli, *args)
        return result.returncode, result.stdout, result.stderr

    assert db("set", "prefix:1", '"?"') == (0, "", "")
    assert db("set", "level:7", "3") == (0, "", "")
    assert db("set", "level:10", '{"xp": 1.5, "tags": ["a"]}') == (0, "", "")
    assert db("list") == (
        0,
        'level:10\t{"xp": 1.5, "tags": ["a"]}\nlevel:7\t3\nprefix:1\t"?"\n',
        "",
    )
    assert db("list", "level:") == (0, 'level:10\t{"xp": 1.5, "tags": ["a"]}\nlevel:7\t3\n', "")
    assert db("get", "level:7") == (0, "3\n", "")
    assert db("incr", "level:7") == (0, "4\n", "")
    assert db("incr", "level:7", "0.5") == (0, "4.5\n", "")
    assert db("delete", "prefix:1") == (0, "", "")

    prog = tmp_path / "read.ez"
    prog.write_text(
        'print(db_keys(), db_get("level:7"), db_get("level:10").xp)\n', encoding="utf-8"
    )
    seen = ezlang("run", str(prog), env=backend.env)
    assert seen.stdout == '["level:10", "level:7"] 4.5 1.5\n', seen.stderr

    # And what a program writes, the command shows.
    write = tmp_path / "write.ez"
    write.write_text('db_set("from_ez", [1, "two", null])\n', encoding="utf-8")
    assert ezlang("run", str(write), env=backend.env).returncode == 0
    assert db("get", "from_ez") == (0, '[1, "two", null]\n', "")


def test_mistakes_are_one_line_and_an_exit_code(backend: Backend) -> None:
    def db(*args: str) -> tuple[int, str, str]:
        result = ezlang("db", *backend.cli, *args)
        assert "Traceback" not in result.stderr
        return result.returncode, result.stdout, result.stderr

    assert ezlang("db", *backend.cli, "set", "k", "1").returncode == 0
    code, out, err = db("get", "nope")
    assert (code, out) == (1, "") and err.startswith("ezlang db: no key 'nope' in ")
    code, out, err = db("delete", "nope")
    assert (code, out) == (1, "") and err.startswith("ezlang db: no key 'nope' in ")
    code, out, err = db("set", "k", "{not json")
    assert (code, out) == (2, "") and err.startswith("ezlang db: the value is not valid JSON: ")
    code, out, err = db("set", "k", "NaN")
    assert (code, out) == (2, "") and "NaN is not valid JSON" in err
    code, out, err = db("incr", "k", "x")
    assert (code, out, err) == (2, "", "ezlang db: BY must be a number, got 'x'\n")
    assert db("set", "s", '"text"')[0] == 0
    assert db("incr", "s") == (1, "", "ezlang db: the value of 's' is a string, not a number\n")
    code, out, err = db("frobnicate")
    assert code == 2 and "invalid choice" in err


def test_reading_a_missing_file_does_not_create_it(tmp_path: Path) -> None:
    typo = tmp_path / "ezlang.bd"
    result = ezlang("db", "--file", str(typo), "list")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"ezlang db: no database file {typo}\n"
    assert not typo.exists()


def test_default_is_the_current_directory(tmp_path: Path) -> None:
    prog = tmp_path / "bot.ez"
    prog.write_text('db_set("here", true)\n', encoding="utf-8")
    assert ezlang("run", "bot.ez", cwd=tmp_path).returncode == 0
    result = ezlang("db", "list", cwd=tmp_path)
    assert result.stdout == "here\ttrue\n", result.stderr


def test_a_non_redis_url_is_a_usage_error() -> None:
    result = ezlang("db", "--redis", "http://localhost", "list")
    assert result.returncode == 2
    assert result.stderr == "ezlang db: --redis needs a redis:// URL, got 'http://localhost'\n"
