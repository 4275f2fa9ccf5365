"""Programs written in the older TypeScript EasyLang's style run with exact output.

Each ``tests/upstream/NAME.ez`` is a program as a user of the older EasyLang wrote it (``var``,
``function``, ``key in object``, ``substr(s, start, end)``, ``time()`` in milliseconds, strings
across lines, a top-level ``return``, a bot split over files with ``include``). They run through
the conformance runner of ``tests/programs/test_programs.py`` (the same ``NAME.out``/``.err``/
``.code`` files), with this folder as the working directory.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

HERE = Path(__file__).resolve().parent


def _load_runner() -> ModuleType:
    # Under --import-mode=importlib test folders are not packages: load the runner by path.
    path = HERE.parent / "programs" / "test_programs.py"
    spec = importlib.util.spec_from_file_location("ezlang_conformance_runner", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


runner = _load_runner()
PROGRAMS = runner.discover(HERE)


@pytest.fixture(scope="module")
def outcomes() -> dict[str, object]:
    return runner.run_all(HERE, PROGRAMS)  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", PROGRAMS)
def test_upstream_program(name: str, outcomes: dict[str, object]) -> None:
    runner.check(HERE, name, outcomes[name])


def test_every_construct_of_the_compatibility_list_has_a_program() -> None:
    text = "\n".join(p.read_text(encoding="utf-8") for p in HERE.rglob("*.ez"))
    for construct in (" in ", "substr(", "time()", "random(", "include ", "delete ",
                      "function ", "var ", "reply message"):  # fmt: skip
        assert construct in text, construct
