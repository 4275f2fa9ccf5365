"""docs/SHARDING.md's table of create_shard_manager options is the one the manager validates."""

from __future__ import annotations

import re
from pathlib import Path

from ezlang.sharding.options import OPTION_HELP

SHARDING_MD = Path(__file__).resolve().parents[2] / "docs" / "SHARDING.md"


def test_the_options_table_lists_exactly_the_known_options() -> None:
    text = SHARDING_MD.read_text(encoding="utf-8")
    start = text.index("\n## Options of create_shard_manager")
    section = text[start : text.index("\n## ", start + 1)]
    documented = re.findall(r"^\| `(\w+)` \|", section, flags=re.M)
    assert len(documented) > 20
    assert sorted(documented) == sorted(OPTION_HELP)
