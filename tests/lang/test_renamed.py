"""Older EasyLang builtins that ezlang renamed: the NameError says what to write instead."""

from __future__ import annotations

import re

import pytest

from ezlang import extensions
from ezlang.lang.check import check_source
from ezlang.lang.registry import BUILTINS
from ezlang.lang.renamed import RENAMED

from .conftest import run_error


def test_running_an_old_name_names_the_new_builtin_at_the_call() -> None:
    err, text, _ = run_error('let e = {title: "x"}\nset_embed_color(e, "red")\n')
    assert err.kind == "NameError"
    assert "'set_embed_color' is the older EasyLang's name" in err.message
    assert "embed_set_color(embed, …)" in err.message
    assert "test.ez:2:1" in text


def test_check_reports_the_old_name_with_its_replacement() -> None:
    [problem] = check_source('set_streaming("my stream", "https://twitch.tv/x")\n', "<c>")
    assert problem.kind == "NameError" and (problem.line, problem.col) == (1, 1)
    assert 'set_activity(name, "streaming", {url: url})' in problem.message


def test_a_program_may_still_define_an_old_name_itself() -> None:
    assert (
        check_source("func set_embed_color(e, c) { return c }\nset_embed_color(1, 2)\n", "<c>")
        == []
    )


@pytest.mark.parametrize("old", sorted(RENAMED))
def test_every_old_name_is_free_and_its_advice_names_real_builtins(old: str) -> None:
    extensions.install()
    assert old not in BUILTINS, f"{old} is an ezlang builtin now; drop it from RENAMED"
    advice = RENAMED[old]
    called = set(re.findall(r"\b([a-z_]+)\(", advice)) - {"throw"}
    assert called or "the import statement" in advice, advice
    for name in called:
        assert name in BUILTINS, f"the advice for {old} names {name}, which is not a builtin"
