"""The database builtins, from EasyLang programs run through the real CLI, on both backends."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from .conftest import Backend, ezlang

pytestmark = pytest.mark.timeout(120)


def write(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def test_every_builtin_gives_the_documented_answers(tmp_path: Path, backend: Backend) -> None:
    prog = write(
        tmp_path,
        "all.ez",
        """\
        print(db_get("missing"), db_get("missing", 7), db_has("missing"))
        db_set("user:1", {name: "ada", tags: ["a", "b"], score: 2.5, ok: true, none: null})
        print(db_get("user:1"))
        db_set("user:2", 20)
        db_set("user:10", "ten")
        db_set("nothing", null)
        print(db_has("nothing"), db_get("nothing", "default"))
        db_set("user:2", 21)
        print(db_get("user:2"))
        print(db_keys("user:"), db_keys("user:1"), db_keys("nope"))
        print(db_keys())
        print(db_incr("count"), db_incr("count"), db_incr("count", 40), db_incr("count", -2))
        print(db_incr("half", 0.1), db_incr("half", 0.2), db_incr("big", 99999999999999999999))
        print(db_incr("big", 1), db_incr("whole", 1.5), db_incr("whole", 1.5))
        print(db_delete("user:10"), db_delete("user:10"), db_has("user:10"))
        let stored = db_get("user:1")
        push(stored.tags, "c")
        print(db_get("user:1").tags)
        print(db_get("ünï:☃", "fresh"))
        db_set("ünï:☃", "snow ☃")
        print(db_get("ünï:☃"), db_keys("ü"))
        """,
    )
    result = ezlang("run", str(prog), env=backend.env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "null 7 false",
        '{"name": "ada", "tags": ["a", "b"], "score": 2.5, "ok": true, "none": null}',
        "true null",
        "21",
        '["user:1", "user:10", "user:2"] ["user:1", "user:10"] []',
        '["nothing", "user:1", "user:10", "user:2"]',
        "1 2 42 40",
        "0.1 0.30000000000000004 99999999999999999999",
        "100000000000000000000 1.5 3",
        "true false false",
        '["a", "b"]',
        "fresh",
        'snow ☃ ["ünï:☃"]',
    ]
    assert result.stderr == ""


def test_data_survives_the_process(tmp_path: Path, backend: Backend) -> None:
    prog = write(tmp_path, "visits.ez", 'print("visit", db_incr("visits"))\n')
    outputs = [ezlang("run", str(prog), env=backend.env).stdout for _ in range(3)]
    assert outputs == ["visit 1\n", "visit 2\n", "visit 3\n"]


def test_redis_keys_carry_the_prefix(tmp_path: Path, redis_server: object) -> None:
    import redis

    url = redis_server.url  # type: ignore[attr-defined]
    prog = write(tmp_path, "p.ez", 'db_set("level:42", 3)\nprint(db_keys())\n')
    result = ezlang("run", str(prog), env={"EZLANG_REDIS_URL": url})
    assert result.stdout == '["level:42"]\n', result.stderr
    client = redis.Redis.from_url(url)
    try:
        client.set("someone-else:key", "x")  # not ours: db_keys must not list it
        assert client.keys("*") and client.get("ezlang:db:level:42") == b"3"
        again = ezlang(
            "run", str(write(tmp_path, "q.ez", "print(db_keys())\n")), env={"EZLANG_REDIS_URL": url}
        )
        assert again.stdout == '["level:42"]\n'
    finally:
        client.close()


def test_the_default_file_is_next_to_the_main_script(tmp_path: Path) -> None:
    bot_dir = tmp_path / "mybot"
    bot_dir.mkdir()
    other = tmp_path / "elsewhere"
    other.mkdir()
    prog = write(bot_dir, "bot.ez", 'db_set("k", 1)\nprint(db_get("k"))\n')
    result = ezlang("run", str(prog), cwd=other)
    assert result.stdout == "1\n", result.stderr
    assert (bot_dir / "ezlang.db").is_file()
    assert not (other / "ezlang.db").exists()
    # A second script in the same directory (the manager beside its bot) shares the data.
    reader = write(bot_dir, "manager.ez", 'print(db_get("k"))\n')
    assert ezlang("run", str(reader), cwd=other).stdout == "1\n"


def test_ezlang_db_env_moves_the_file(tmp_path: Path) -> None:
    prog = write(tmp_path, "p.ez", 'db_set("k", "v")\n')
    target = tmp_path / "custom.sqlite"
    result = ezlang("run", str(prog), env={"EZLANG_DB": str(target)})
    assert result.returncode == 0, result.stderr
    assert target.is_file() and not (tmp_path / "ezlang.db").exists()


ERRORS = [
    ("db_get(42)", "TypeError: db_get() expects a string key as its first argument, got number", 1),
    ("db_has()", "TypeError: db_has() expects a string key as its argument, got nothing", 1),
    ('db_set("k")', "ArgumentError: db_set() needs a key and a value", 1),
    (
        'db_set("k", func() { return 1 })',
        "ValueError: db_set(): cannot store the value for key 'k': it contains a function "
        "(the database holds null, booleans, numbers, strings, arrays and objects)",
        1,
    ),
    (
        'let a = [1]\npush(a, a)\ndb_set("loop", {inner: a})',
        "ValueError: db_set(): cannot store the value for key 'loop': it contains an array or "
        "object that contains itself (the database holds null, booleans, numbers, strings, "
        "arrays and objects)",
        3,
    ),
    (
        'db_set("name", "ada")\nlet x = db_incr("name", 1)',
        "TypeError: db_incr(): the value of key 'name' is a string, not a number",
        2,
    ),
    (
        'db_set("n", null)\n  db_incr("n")',
        "TypeError: db_incr(): the value of key 'n' is null, not a number",
        2,
    ),
    (
        'db_incr("n", "1")',
        "TypeError: db_incr() expects a number as its second argument, got string",
        1,
    ),
    ("db_keys(5)", "TypeError: db_keys() expects a string prefix as its argument, got number", 1),
]


@pytest.mark.parametrize(("source", "message", "line"), ERRORS)
def test_mistakes_are_easylang_errors_with_a_position(
    tmp_path: Path, backend: Backend, source: str, message: str, line: int
) -> None:
    prog = write(tmp_path, "bad.ez", source + "\n")
    result = ezlang("run", str(prog), env=backend.env)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == message
    col = len(source.splitlines()[line - 1]) - len(source.splitlines()[line - 1].lstrip()) + 1
    if source.splitlines()[line - 1].lstrip().startswith("let x = "):
        col += len("let x = ")
    assert lines[1] == f"  at {prog}:{line}:{col}"
    assert "Traceback" not in result.stderr


def test_a_mistake_is_catchable_and_the_value_unchanged(tmp_path: Path, backend: Backend) -> None:
    prog = write(
        tmp_path,
        "catch.ez",
        """\
        db_set("name", "ada")
        try {
            db_incr("name")
        } catch err {
            print(err.kind + ": " + err.message)
        }
        print(db_get("name"))
        """,
    )
    result = ezlang("run", str(prog), env=backend.env)
    assert result.stdout.splitlines() == [
        "TypeError: db_incr(): the value of key 'name' is a string, not a number",
        "ada",
    ]


def test_unreachable_redis_is_a_clear_error(tmp_path: Path, redis_server: object) -> None:
    url = redis_server.url  # type: ignore[attr-defined]
    redis_server.stop()  # type: ignore[attr-defined]  # nothing listens on the port now
    prog = write(tmp_path, "p.ez", 'print("before")\ndb_set("k", 1)\n')
    result = ezlang("run", str(prog), env={"EZLANG_REDIS_URL": url})
    assert result.returncode == 1
    assert result.stdout == "before\n"
    first, where = result.stderr.splitlines()[:2]
    assert first.startswith(f"Error: db_set(): the Redis database at {url} failed: ")
    assert where == f"  at {prog}:2:1"
    assert "Traceback" not in result.stderr


def test_unwritable_place_is_a_clear_error(tmp_path: Path) -> None:
    prog = write(tmp_path, "p.ez", 'db_get("k")\n')
    missing_dir = tmp_path / "no" / "such" / "dir" / "x.db"
    result = ezlang("run", str(prog), env={"EZLANG_DB": str(missing_dir)})
    assert result.returncode == 1
    assert result.stderr.splitlines()[:2] == [
        f"Error: db_get(): cannot open the database file {missing_dir}: no such directory",
        f"  at {prog}:1:1",
    ]


def test_a_value_written_by_another_program_is_a_clear_error(
    tmp_path: Path, backend: Backend
) -> None:
    prog = write(tmp_path, "p.ez", 'db_set("k", 1)\nprint(db_get("k"))\n')
    assert ezlang("run", str(prog), env=backend.env).stdout == "1\n"
    if backend.path is not None:
        import sqlite3

        with sqlite3.connect(backend.path) as conn:
            conn.execute("UPDATE kv SET value = 'not json' WHERE key = 'k'")
        conn.close()
    else:
        import redis

        client = redis.Redis.from_url(backend.server.url)
        client.set("ezlang:db:k", "not json")
        client.close()
    reader = write(tmp_path, "r.ez", 'print("start")\nprint(db_get("k"))\n')
    result = ezlang("run", str(reader), env=backend.env)
    assert result.returncode == 1
    assert result.stderr.splitlines()[:2] == [
        "Error: db_get(): the value stored under key 'k' is not JSON (was it written by another "
        "program?); replace it with 'ezlang db set' or remove it with 'ezlang db delete'",
        f"  at {reader}:2:7",
    ]
    assert "Traceback" not in result.stderr
    fixed = ezlang("db", *backend.cli, "set", "k", "2")
    assert fixed.returncode == 0, fixed.stderr
    assert ezlang("run", str(reader), env=backend.env).stdout == "start\n2\n"
