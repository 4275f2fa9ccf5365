"""docs/BOTS.md's table of events is the runtime's: every event, with the intents it needs."""

from __future__ import annotations

import re
from pathlib import Path

from ezlang.discord.events import EVENTS

BOTS_MD = Path(__file__).resolve().parents[2] / "docs" / "BOTS.md"


def _rows() -> dict[str, str]:
    """Each event name of the table's first column → the rest of its row."""
    rows = {}
    for line in BOTS_MD.read_text(encoding="utf-8").splitlines():
        first = re.match(r"\| ((?:`\w+`(?: / )?)+) \|(.*)$", line)
        if first:
            for name in re.findall(r"`(\w+)`", first.group(1)):
                rows[name] = first.group(2)
    return rows


def test_every_event_is_in_the_table_with_its_intents() -> None:
    rows = _rows()
    assert len(EVENTS) > 30
    missing = [name for name in EVENTS if name not in rows]
    assert missing == []
    wrong = {
        name: spec.intents
        for name, spec in EVENTS.items()
        # The intent column is the second from the end: `a` or `b`, or — for none.
        if set(re.findall(r"`(\w+)`", rows[name].split("|")[-3])) != set(spec.intents)
    }
    assert wrong == {}
