"""The project's documentation stands on its own and matches the parser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ezlang.lang import parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_docs_name_no_file_outside_the_repository(doc: Path) -> None:
    # Readers have the repository only: a path leaving it is a dead end for them.
    text = doc.read_text(encoding="utf-8")
    outside = re.findall(r"\.\./[\w./-]+|/work/[\w./-]+|\bshared/[A-Z]+\.md", text)
    assert outside == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_docs_code_fences_are_balanced(doc: Path) -> None:
    fences = [line for line in doc.read_text(encoding="utf-8").splitlines() if "```" in line]
    # A fence is alone on its line (an info string such as ```sh is allowed on the opener).
    assert all(re.fullmatch(r"\s*```[\w-]*", line) for line in fences), fences
    assert len(fences) % 2 == 0


def _grammar_rules(text: str) -> list[str]:
    rules = re.findall(r"^\s*(\w+\s*=.*?;)\s*(?:\(\*.*?\*\))?\s*$", text, flags=re.M | re.S)
    return [" ".join(rule.split()) for rule in rules]


def test_grammar_md_has_the_parser_grammar() -> None:
    doc = (ROOT / "docs" / "GRAMMAR.md").read_text(encoding="utf-8")
    block = re.search(r"```ebnf\n(.*?)\n```", doc, flags=re.S)
    assert block, "docs/GRAMMAR.md lost its ```ebnf block"
    assert parser.__doc__ is not None
    in_parser = re.search(r"^ *program *=.*?(?=\n\n)", parser.__doc__, flags=re.M | re.S)
    assert in_parser, "the parser's docstring lost its grammar"
    rules = _grammar_rules(in_parser.group(0))
    assert len(rules) > 20
    assert _grammar_rules(block.group(1)) == rules


def test_every_builtin_is_documented() -> None:
    # Every name a program can call (the language's and every lazily registered layer's, as
    # ezlang.extensions lists them) appears in the docs; "$…" names are the compiler's own.
    import ezlang.extensions
    import ezlang.lang.builtins  # noqa: F401
    from ezlang.lang import registry

    ezlang.extensions.install()
    names = sorted(n for n in registry.BUILTINS if not n.startswith("$"))
    layers = [n for k, v in vars(ezlang.extensions).items() if k.endswith("_BUILTINS") for n in v]
    assert set(layers) <= set(names) and len(layers) > 150
    text = "\n".join(doc.read_text(encoding="utf-8") for doc in DOCS)
    undocumented = [n for n in names if not re.search(rf"(?<![\w.]){re.escape(n)}\b", text)]
    assert undocumented == []
