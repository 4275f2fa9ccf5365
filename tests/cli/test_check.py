"""``ezlang check FILE...``: syntax only, nothing runs."""

from __future__ import annotations


def test_check_passes_valid_files_without_running_them(ez, write):
    a = write("a.ez", 'print("side effect")\nfunc f(x) { return x }\n')
    b = write("b.ez", "let y = undefined_but_only_at_runtime\n")
    res = ez("check", str(a), str(b))
    assert res.returncode == 0, res.stderr
    assert "side effect" not in res.stdout
    assert f"{a}: ok" in res.stdout and f"{b}: ok" in res.stdout


def test_check_reports_every_failing_file_with_its_position(ez, write, tmp_path):
    write("good.ez", "print(1)\n")
    write("bad1.ez", "let x = (1 +\n")
    write("bad2.ez", "print(1)\nlet 5 = 3\n")
    res = ez("check", "good.ez", "bad1.ez", "bad2.ez", cwd=tmp_path)
    assert res.returncode == 1
    assert "good.ez: ok" in res.stdout
    assert res.stderr.count("SyntaxError") == 2
    assert "bad1.ez:" in res.stderr
    assert "bad2.ez:2:5" in res.stderr


def test_check_missing_file_is_a_usage_error(ez, tmp_path):
    res = ez("check", str(tmp_path / "nope.ez"))
    assert res.returncode == 2
