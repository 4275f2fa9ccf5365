"""Every example the docs point to passes ``ezlang check`` (cheap: nothing runs, no sandbox)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").rglob("*.ez"))


def test_there_are_examples_to_check() -> None:
    # A moved examples/ folder must fail here rather than make the next test check nothing.
    names = {p.relative_to(ROOT / "examples").as_posix() for p in EXAMPLES}
    assert {"hello-bot.ez", "slash-bot.ez", "sharding/manager.ez"} <= names


def test_every_example_passes_ezlang_check(ez) -> None:
    res = ez("check", *(str(p) for p in EXAMPLES))
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [f"{p}: ok" for p in EXAMPLES]
