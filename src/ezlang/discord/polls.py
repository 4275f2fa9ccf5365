"""EasyLang builtins for polls (``POLL_BUILTINS``), with the older EasyLang's names and
argument order: ``create_poll(question, answers_array, duration_hours, allow_multiselect?)``,
``create_multi_select_poll(question, answers_array, duration_hours)``,
``send_poll(channel, poll)``, ``end_poll(message)``, ``fetch_poll_results(message)`` (also
``get_poll_results``) and ``fetch_poll_voters(message, answer_id)`` (also
``get_poll_voters``).

``create_poll`` only builds the poll (an object a beginner can print); Discord's limits are
checked there, so a mistake points at the line that made the poll: 1–10 answers of at most
55 characters, a question of at most 300, 1 to 768 hours (32 days). ``send_poll`` (or
``send_message(channel, {poll: …})``) posts it; the bot needs Send Polls there.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import discord

from ezlang.discord import convert
from ezlang.discord.builtins import _message_ids
from ezlang.discord.messages import _user_from_payload, discord_error
from ezlang.discord.runtime import runtime
from ezlang.lang.errors import EzError
from ezlang.lang.registry import register
from ezlang.lang.values import to_repr

__all__ = ["BUILTINS", "to_discord"]

MAX_ANSWERS = 10
MAX_QUESTION = 300
MAX_ANSWER = 55
MAX_HOURS = 32 * 24


class PollObject(convert.DiscordObject):
    what = "a poll"


class PollResultsObject(convert.DiscordObject):
    what = "poll results"


def _client(what: str) -> discord.Client:
    return runtime().require_client(what)


def _hours(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise EzError(
            "TypeError",
            f"{what}: duration_hours must be a whole number of hours, not {to_repr(value)}",
        )
    if not 1 <= value <= MAX_HOURS:
        raise EzError(
            "ValueError",
            f"{what}: a poll lasts 1 to {MAX_HOURS} hours (32 days, Discord's limit), not {int(value)}",
        )
    return int(value)


def _answers(value: Any, what: str) -> list[str]:
    if not isinstance(value, list):
        raise EzError(
            "TypeError", f"{what}: answers must be an array of strings, not {to_repr(value)}"
        )
    if not 1 <= len(value) <= MAX_ANSWERS:
        raise EzError(
            "ValueError",
            f"{what}: a poll has 1 to {MAX_ANSWERS} answers (Discord's limit), not {len(value)}",
        )
    out = []
    for i, answer in enumerate(value, start=1):
        if not isinstance(answer, str) or not answer.strip():
            raise EzError(
                "TypeError", f"{what}: answer {i} must be a non-empty string, not {to_repr(answer)}"
            )
        if len(answer) > MAX_ANSWER:
            raise EzError(
                "ValueError",
                f"{what}: answer {i} has {len(answer)} characters; Discord allows {MAX_ANSWER}",
            )
        out.append(answer)
    return out


def _build(
    question: Any, answers: Any, duration_hours: Any, multiselect: Any, what: str
) -> dict[str, Any]:
    if not isinstance(question, str) or not question.strip():
        raise EzError(
            "TypeError", f"{what}: the question must be a non-empty string, not {to_repr(question)}"
        )
    if len(question) > MAX_QUESTION:
        raise EzError(
            "ValueError",
            f"{what}: the question has {len(question)} characters; Discord allows {MAX_QUESTION}",
        )
    if not isinstance(multiselect, bool):
        raise EzError(
            "TypeError",
            f"{what}: allow_multiselect must be true or false, not {to_repr(multiselect)}",
        )
    return PollObject(
        question=question,
        answers=_answers(answers, what),
        duration_hours=_hours(duration_hours, what),
        allow_multiselect=multiselect,
    )


def create_poll(
    question: Any, answers: Any, duration_hours: Any, allow_multiselect: Any = False
) -> dict[str, Any]:
    """A poll to send: ``{question, answers, duration_hours, allow_multiselect}``."""
    return _build(question, answers, duration_hours, allow_multiselect, "create_poll()")


def create_multi_select_poll(question: Any, answers: Any, duration_hours: Any) -> dict[str, Any]:
    """A poll where each user may choose several answers."""
    return _build(question, answers, duration_hours, True, "create_multi_select_poll()")


def to_discord(poll: Any, what: str) -> discord.Poll:
    """discord.py's Poll from a poll object (from ``create_poll`` or written by hand)."""
    if not isinstance(poll, dict) or "question" not in poll or "answers" not in poll:
        raise EzError(
            "TypeError",
            f"{what} needs a poll from create_poll(question, answers, duration_hours), not {to_repr(poll)}",
        )
    checked = _build(
        poll["question"],
        poll["answers"],
        poll.get("duration_hours", 24),
        poll.get("allow_multiselect", False),
        what,
    )
    out = discord.Poll(
        checked["question"],
        datetime.timedelta(hours=checked["duration_hours"]),
        multiple=checked["allow_multiselect"],
    )
    for text in checked["answers"]:
        out.add_answer(text=text)
    return out


def results_object(message: discord.Message) -> dict[str, Any]:
    """``{question, answers: [{id, text, votes}], total_votes, is_finalized, expires_at,
    allow_multiselect, message_id, channel_id}`` of a poll message."""
    poll = message.poll
    if poll is None:
        raise EzError(
            "ValueError", "that message has no poll; send one with send_poll(channel, poll)"
        )
    expires = poll.expires_at
    return PollResultsObject(
        question=poll.question,
        answers=[{"id": a.id, "text": a.text, "votes": a.vote_count} for a in poll.answers],
        total_votes=poll.total_votes,
        is_finalized=poll.is_finalised(),
        expires_at=None if expires is None else expires.isoformat(),
        allow_multiselect=poll.multiple,
        message_id=str(message.id),
        channel_id=str(message.channel.id),
    )


def _partial(client: discord.Client, message: Any, what: str) -> discord.PartialMessage:
    message_id, channel_id, guild_id = _message_ids(message, what)
    return client.get_partial_messageable(channel_id, guild_id=guild_id).get_partial_message(
        message_id
    )


async def send_poll(channel: Any, poll: Any) -> dict[str, Any]:
    """Post a poll in a channel; returns the message (with ``poll``: its results)."""
    what = "send_poll()"
    client = _client(what)
    cid = convert.channel_id_of(channel, what=f"{what} channel")
    guild = channel.get("guild_id") if isinstance(channel, dict) else None
    gid = None if guild is None else convert.snowflake_arg(guild, what="guild_id")
    target = client.get_partial_messageable(cid, guild_id=gid)
    try:
        sent = await target.send(poll=to_discord(poll, what))
    except discord.HTTPException as exc:
        raise discord_error(what, exc, "Send Polls") from None
    result = convert.message(sent)
    result["poll"] = results_object(sent)
    return result


async def end_poll(message: Any) -> dict[str, Any]:
    """End a poll the bot sent, now; returns its final results."""
    what = "end_poll()"
    target = _partial(_client(what), message, what)
    try:
        ended = await target.end_poll()
    except discord.HTTPException as exc:
        if exc.code == 50013:
            raise EzError(
                "DiscordError",
                f"{what} failed: 403 Forbidden: only the author of a poll can end it, and this "
                "poll was not sent by the bot (error code 50013)",
            ) from None
        raise discord_error(what, exc) from None
    return results_object(ended)


async def fetch_poll_results(message: Any) -> dict[str, Any]:
    """The current results of a poll message, from Discord."""
    what = "fetch_poll_results()"
    target = _partial(_client(what), message, what)
    try:
        fetched = await target.fetch()
    except discord.HTTPException as exc:
        raise discord_error(what, exc) from None
    return results_object(fetched)


async def fetch_poll_voters(message: Any, answer_id: Any) -> list[dict[str, Any]]:
    """The users who chose answer ``answer_id`` (1 for the first answer, …)."""
    what = "fetch_poll_voters()"
    client = _client(what)
    message_id, channel_id, _ = _message_ids(message, what)
    if (
        isinstance(answer_id, bool)
        or not isinstance(answer_id, int | float)
        or answer_id != int(answer_id)
    ):
        raise EzError(
            "TypeError",
            f"{what}: answer_id is a whole number (1 for the first answer), not {to_repr(answer_id)}",
        )
    users: list[dict[str, Any]] = []
    after: int | None = None
    while True:  # Discord pages voters by 100
        try:
            page = await client.http.get_poll_answer_voters(
                channel_id, message_id, int(answer_id), after, 100
            )
        except discord.HTTPException as exc:
            raise discord_error(what, exc) from None
        found = page.get("users") or []
        users += [_user_from_payload(dict(u)) for u in found]
        if len(found) < 100:
            return users
        after = int(found[-1]["id"])


BUILTINS: dict[str, Callable[..., Any]] = {
    "create_poll": create_poll,
    "create_multi_select_poll": create_multi_select_poll,
    "send_poll": send_poll,
    "end_poll": end_poll,
    "fetch_poll_results": fetch_poll_results,
    "get_poll_results": fetch_poll_results,
    "fetch_poll_voters": fetch_poll_voters,
    "get_poll_voters": fetch_poll_voters,
}

for _name, _fn in BUILTINS.items():
    register(_name, _fn)
