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


def _anchors(text: str) -> set[str]:
    """The anchors GitHub gives a document's headings (a repeated one gets ``-1``, ``-2``…)."""
    seen: dict[str, int] = {}
    anchors = set()
    in_fence = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        heading = None if in_fence else re.match(r"#{1,6} +(.*?) *#*$", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).lower()).replace(" ", "-")
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_docs_links_lead_somewhere(doc: Path) -> None:
    # A link to a file of the repository names one that exists, and its #anchor a heading there.
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # http(s)://, mailto:
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file.read_text("utf-8")):
            broken.append(target)
    assert broken == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_a_table_of_contents_lists_every_chapter(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    contents = re.search(r"^## Contents\n(.*?)\n## ", text, flags=re.M | re.S)
    if contents is None:
        assert len(text.splitlines()) < 600, "a doc this long gets a ## Contents section"
        return
    listed = set(re.findall(r"\]\(#([\w-]+)\)", contents.group(1)))
    chapters = set(_anchors("\n".join(re.findall(r"^## .*$", text, flags=re.M)))) - {"contents"}
    assert chapters - listed == set()


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_docs_name_only_examples_that_exist(doc: Path) -> None:
    named = re.findall(r"\b(examples/[\w./-]+\.(?:ez|py|json|js|yml)\b)", doc.read_text("utf-8"))
    assert [name for name in named if not (ROOT / name).exists()] == []
