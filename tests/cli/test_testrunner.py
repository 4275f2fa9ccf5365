"""``ezlang test PATH...``: test cases, marks, the summary line and the exit code."""

from __future__ import annotations

PASSING = """\
let calls = 0
func helper(x) { return x * 2 }
func test_addition() {
    assert(1 + 1 == 2)
}
func test_helper_doubles() {
    assert(helper(21) == 42, "helper should double")
}
func test_waits_are_allowed() {
    wait(0.01)
}
"""

FAILING = """\
func test_good() {
    assert(true)
}
func test_bad_assert() {
    assert(1 == 2, "one is not two")
}
func test_throws() {
    throw "boom"
}
func test_runtime_error() {
    let xs = []
    return xs[3]
}
func test_after_failures_still_runs() {
    assert(true)
}
"""


def test_passing_file(ez, write, tmp_path):
    write("math.test.ez", PASSING)
    res = ez("test", "math.test.ez", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert lines[-1] == "3 passed, 0 failed"
    assert "✓ test_addition" in res.stdout
    assert "✓ test_helper_doubles" in res.stdout
    assert "✓ test_waits_are_allowed" in res.stdout
    assert "helper" not in [ln.strip("✓ ") for ln in lines]  # only test_ functions are cases


def test_failing_file_reports_each_case_with_positioned_errors(ez, write, tmp_path):
    write("fail.test.ez", FAILING)
    res = ez("test", "fail.test.ez", cwd=tmp_path)
    assert res.returncode == 1
    out = res.stdout
    assert out.splitlines()[-1] == "2 passed, 3 failed"
    assert "✓ test_good" in out
    assert "✗ test_bad_assert" in out and "one is not two" in out and "fail.test.ez:5:" in out
    assert "✗ test_throws" in out and "boom" in out and "fail.test.ez:8:" in out
    assert "✗ test_runtime_error" in out and "IndexError" in out and "fail.test.ez:12:" in out
    assert "✓ test_after_failures_still_runs" in out
    # cases run in source order
    order = [ln.strip()[2:] for ln in out.splitlines() if ln.strip()[:1] in "✓✗"]
    assert order == [
        "test_good",
        "test_bad_assert",
        "test_throws",
        "test_runtime_error",
        "test_after_failures_still_runs",
    ]


def test_file_without_test_functions_is_one_case(ez, write, tmp_path):
    write("plain-test.ez", "assert(2 > 1)\nprint('visible output')\n")
    write("plain_fail.test.ez", "assert(false, 'top level failed')\n")
    ok = ez("test", "plain-test.ez", cwd=tmp_path)
    assert ok.returncode == 0
    assert ok.stdout.splitlines()[-1] == "1 passed, 0 failed"
    bad = ez("test", "plain_fail.test.ez", cwd=tmp_path)
    assert bad.returncode == 1
    assert bad.stdout.splitlines()[-1] == "0 passed, 1 failed"
    assert "top level failed" in bad.stdout


def test_directory_collects_test_files_recursively(ez, write, tmp_path):
    write("suite/a.test.ez", "func test_a() { assert(true) }\n")
    write("suite/deep/b-test.ez", "func test_b() { assert(true) }\nfunc test_c() { }\n")
    write("suite/not_a_test.ez", "func test_never() { assert(false) }\n")
    write("suite/helper.ez", "error('helpers are not run')\n")
    res = ez("test", "suite", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.splitlines()[-1] == "3 passed, 0 failed"
    assert "test_never" not in res.stdout


def test_syntax_error_fails_the_file(ez, write, tmp_path):
    write("broken.test.ez", "func test_x() {\n")
    res = ez("test", "broken.test.ez", cwd=tmp_path)
    assert res.returncode == 1
    assert "SyntaxError" in res.stdout
    assert res.stdout.splitlines()[-1] == "0 passed, 1 failed"


def test_several_files_share_one_summary(ez, write, tmp_path):
    write("one.test.ez", PASSING)
    write("two.test.ez", FAILING)
    res = ez("test", "one.test.ez", "two.test.ez", cwd=tmp_path)
    assert res.returncode == 1
    assert res.stdout.splitlines()[-1] == "5 passed, 3 failed"


def test_imported_test_functions_are_not_cases_of_the_importer(ez, write, tmp_path):
    write("lib.ez", "func test_from_lib() { assert(false) }\n")
    write("main.test.ez", 'import "lib.ez"\nfunc test_main() { assert(true) }\n')
    res = ez("test", "main.test.ez", cwd=tmp_path)
    assert res.returncode == 0, res.stdout
    assert res.stdout.splitlines()[-1] == "1 passed, 0 failed"


def test_empty_directory_is_a_failure(ez, tmp_path):
    (tmp_path / "empty").mkdir()
    res = ez("test", "empty", cwd=tmp_path)
    assert res.returncode == 1
    assert "no test files" in res.stderr


def test_cases_that_never_finish_fail_with_a_timeout_and_the_run_goes_on(ez, write, tmp_path):
    write(
        "hang.test.ez",
        "func test_waits_forever() { wait(1000) }\n"
        "func test_loops_forever() { while true { } }\n"
        "func test_fine() { assert(true) }\n",
    )
    res = ez("test", "hang.test.ez", "--timeout", "0.5", cwd=tmp_path)
    assert res.returncode == 1
    assert res.stdout.count("TimeoutError") == 2
    assert "✓ test_fine" in res.stdout
    assert res.stdout.splitlines()[-1] == "1 passed, 2 failed"
