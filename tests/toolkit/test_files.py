"""The file builtins (``fs_*``, ``path_join``): paths relative to the script, clear errors."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from .conftest import ezlang


def _run(tmp_path: Path, source: str, name: str = "bot/main.ez", cwd: Path | None = None):
    script = tmp_path / name
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(textwrap.dedent(source), encoding="utf-8")
    return ezlang("run", str(script), cwd=cwd or tmp_path)


def test_paths_are_relative_to_the_script_not_the_current_directory(tmp_path):
    (tmp_path / "bot").mkdir()
    (tmp_path / "bot" / "words.txt").write_text("héllo\nwörld\n", encoding="utf-8")
    (tmp_path / "bot" / "data").mkdir()
    (tmp_path / "words.txt").write_text("the wrong file\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    res = _run(
        tmp_path,
        """
        print(fs_read_file("words.txt"))
        fs_write_file("out.txt", "written")
        fs_write_file("out.txt", "overwritten")
        print(fs_read_file(path_join("data", "..", "out.txt")))
        print(fs_exists("out.txt"), fs_exists("nope"), fs_exists("data"))
        print(fs_is_file("out.txt"), fs_is_file("data"), fs_is_file("nope"))
        print(fs_is_dir("data"), fs_is_dir("out.txt"), fs_is_dir("nope"))
        print(fs_read_dir("."))
        print(fs_read_dir("data"))
        """,
        cwd=elsewhere,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [
        "héllo",
        "wörld",
        "",
        "overwritten",
        "true false true",
        "true false false",
        "true false false",
        '["data", "main.ez", "out.txt", "words.txt"]',
        "[]",
    ]
    assert (tmp_path / "bot" / "out.txt").read_text(encoding="utf-8") == "overwritten"
    assert not (elsewhere / "out.txt").exists()


def test_path_join_tidies_and_keeps_absolute_parts(tmp_path):
    res = _run(
        tmp_path,
        """
        print(path_join("a", "./b", "../c.txt"))
        print(path_join("logs"))
        print(path_join("/srv", "bot", "x.json"))
        """,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["a/c.txt", "logs", "/srv/bot/x.json"]


@pytest.mark.parametrize(
    ("call", "kind", "message"),
    [
        (
            'fs_read_file("missing.txt")',
            "Error",
            'fs_read_file(): no such file or folder: "missing.txt" (looked for {dir}/missing.txt)',
        ),
        (
            'fs_read_file("sub")',
            "Error",
            'fs_read_file(): "sub" is a folder, not a file (use fs_read_dir to list it)',
        ),
        (
            'fs_read_file("latin1.txt")',
            "ValueError",
            'fs_read_file(): "latin1.txt" is not UTF-8 text (byte 1 cannot be decoded)',
        ),
        (
            'fs_write_file("no/such/dir.txt", "x")',
            "Error",
            'fs_write_file(): the folder of "no/such/dir.txt" does not exist ({dir}/no/such); '
            "fs_write_file does not create folders",
        ),
        (
            'fs_write_file("sub", "x")',
            "Error",
            'fs_write_file(): "sub" is a folder, not a file (use fs_read_dir to list it)',
        ),
        (
            'fs_write_file("x.txt", 5)',
            "TypeError",
            "fs_write_file() expects the text to write (a string) as its second argument, got "
            "number (convert it with str() or json_stringify())",
        ),
        (
            'fs_read_dir("latin1.txt")',
            "Error",
            'fs_read_dir(): "latin1.txt" is a file, not a folder',
        ),
        (
            'fs_read_dir("gone")',
            "Error",
            'fs_read_dir(): no such file or folder: "gone" (looked for {dir}/gone)',
        ),
        (
            "fs_exists(42)",
            "TypeError",
            "fs_exists() expects a path (a string) as its argument, got number",
        ),
        (
            'fs_is_file("")',
            "ValueError",
            'fs_is_file() got an empty path (use "." for the folder itself)',
        ),
        ("path_join()", "ArgumentError", "path_join() needs at least one path part"),
        ('path_join("a", null)', "TypeError", "path_join() expects strings, got null as part 2"),
    ],
)
def test_file_errors_are_easylang_errors_with_the_call_position(tmp_path, call, kind, message):
    folder = tmp_path / "bot"
    (folder / "sub").mkdir(parents=True)
    (folder / "latin1.txt").write_bytes(b"h\xe9llo")
    res = _run(tmp_path, f"let ok = 1\nlet x = {call}\n")
    assert res.returncode == 1
    expected = message.format(dir=folder)
    assert res.stderr.splitlines()[:2] == [f"{kind}: {expected}", f"  at {folder}/main.ez:2:9"]
    assert "Traceback" not in res.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_file_is_a_permission_error(tmp_path):
    secret = tmp_path / "bot" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("x")
    secret.chmod(0)
    res = _run(tmp_path, 'fs_read_file("secret.txt")\n')
    assert res.returncode == 1
    assert res.stderr.startswith('Error: fs_read_file(): permission denied: "secret.txt"\n')
    assert "Traceback" not in res.stderr


def test_errors_can_be_caught(tmp_path):
    res = _run(
        tmp_path,
        """
        try { fs_read_file("nope.txt") } catch err { print(err.kind) }
        print(fs_exists("nope.txt") or "fallback")
        """,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["Error", "fallback"]


def test_permission_errors_are_worded_by_errno():
    import errno

    from ezlang.toolkit.files import _os_error

    err = _os_error(
        "fs_read_file", "secret.txt", PermissionError(errno.EACCES, "Permission denied")
    )
    assert (err.kind, err.message) == ("Error", 'fs_read_file(): permission denied: "secret.txt"')
