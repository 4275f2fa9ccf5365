"""The compiled-program cache of ``ezlang run``: faster starts, never different behaviour."""

from __future__ import annotations

import os


def _run(ez, prog, cache_dir, **env):
    return ez("run", str(prog), env={"EZLANG_CACHE_DIR": str(cache_dir), **env})


def test_second_run_uses_the_cache_and_behaves_the_same(ez, write, tmp_path):
    cache = tmp_path / "cache"
    prog = write("p.ez", 'print("hi")\nfunc f(o) {\n    return o.a.b\n}\nf({a: 1})\n')
    first = _run(ez, prog, cache)
    entries = list(cache.glob("*.code"))
    assert len(entries) == 1
    second = _run(ez, prog, cache)
    assert (first.returncode, first.stdout) == (second.returncode, second.stdout) == (1, "hi\n")
    assert first.stderr == second.stderr  # same positions, source line and stack from the cache
    assert "p.ez:3:" in second.stderr and "return o.a.b" in second.stderr


def test_changed_source_is_recompiled(ez, write, tmp_path):
    cache = tmp_path / "cache"
    prog = write("p.ez", "print(1)\n")
    assert _run(ez, prog, cache).stdout == "1\n"
    prog.write_text("print(2)\n")
    assert _run(ez, prog, cache).stdout == "2\n"


def test_corrupt_cache_entry_is_ignored(ez, write, tmp_path):
    cache = tmp_path / "cache"
    prog = write("p.ez", "print(40 + 2)\n")
    _run(ez, prog, cache)
    (entry,) = cache.glob("*.code")
    entry.write_bytes(b"not marshal data")
    res = _run(ez, prog, cache)
    assert (res.returncode, res.stdout, res.stderr) == (0, "42\n", "")


def test_unwritable_cache_directory_only_costs_speed(ez, write, tmp_path):
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("")
    prog = write("p.ez", "print(7)\n")
    res = _run(ez, prog, blocker / "cache")
    assert (res.returncode, res.stdout, res.stderr) == (0, "7\n", "")


def test_cache_can_be_turned_off(ez, write, tmp_path):
    cache = tmp_path / "cache"
    prog = write("p.ez", "print(7)\n")
    res = _run(ez, prog, cache, EZLANG_NO_CACHE="1")
    assert res.stdout == "7\n"
    assert not cache.exists() or not os.listdir(cache)


def test_syntax_errors_are_never_cached(ez, write, tmp_path):
    cache = tmp_path / "cache"
    prog = write("p.ez", "let = 1\n")
    for _ in range(2):
        res = _run(ez, prog, cache)
        assert res.returncode == 1 and "SyntaxError" in res.stderr
    assert not list(cache.glob("*.code")) if cache.exists() else True


def test_cache_stays_bounded(write, tmp_path, monkeypatch):
    from ezlang.lang import runner

    cache = tmp_path / "cache"
    cache.mkdir()
    for i in range(runner.CACHE_MAX_ENTRIES + 5):
        entry = cache / f"{i:04}.code"
        entry.write_bytes(b"x")
        os.utime(entry, (i, i))  # older entries have smaller numbers
    prog = write("p.ez", "print(1)\n")
    monkeypatch.setenv("EZLANG_CACHE_DIR", str(cache))
    monkeypatch.delenv("EZLANG_NO_CACHE", raising=False)
    runner.load_program(prog)  # a miss: compiles, stores, prunes
    remaining = sorted(p.name for p in cache.glob("*.code"))
    assert len(remaining) == runner.CACHE_MAX_ENTRIES * 4 // 5
    assert "0000.code" not in remaining  # the oldest went first
    assert any(len(name) > 20 for name in remaining)  # the new entry stayed
