"""Polls: messages with a ``poll``, their votes, results and end — Discord's way.

A message body may carry Discord's poll create request (``question.text`` ≤ 300,
1–10 ``answers`` of ``poll_media.text`` ≤ 55, ``duration`` 1–768 hours (32 days),
``allow_multiselect``, ``layout_type`` 1); a bad one is 400 50035 with the field path, a
guild channel needs SEND_POLLS (403 50013). The stored message gets ``poll`` with
``expiry``, answers numbered from 1 and ``results`` (``answer_counts``, ``is_finalized``),
kept current as users vote.

REST: ``POST /channels/{c}/polls/{m}/expire`` ends the poll (only its author: 403 50013
otherwise; 520006 for a message without a poll, 520001 when it already ended) and sends
MESSAGE_UPDATE; ``GET /channels/{c}/polls/{m}/answers/{answer_id}`` lists the voters
(``{"users": [...]}``, ``after``, ``limit`` 1–100).

Control API: ``POST|DELETE {control}/polls/{channel_id}/{message_id}/votes``
``{user_id, answer_id}`` (a user votes or takes a vote back) sends MESSAGE_POLL_VOTE_ADD /
_REMOVE to the guild's shard, to sessions with GUILD_MESSAGE_POLLS. A second answer without
``allow_multiselect``, a vote after the poll ended, or by a non-member is refused (400).
A poll whose time ran out is seen as ended by the next vote or read of these routes (the
sandbox runs no timer per poll).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .commands import Errors, _err, _set
from .gateway import INTENT_GUILD_MESSAGES
from .records import iso_time, per_sandbox, whole_number
from .rest import error, json_response

if TYPE_CHECKING:
    from .core import Sandbox

INTENT_GUILD_MESSAGE_POLLS = 1 << 24
MAX_ANSWERS = 10
MAX_QUESTION = 300
MAX_ANSWER = 55
MAX_DURATION_HOURS = 32 * 24  # 768: Discord's limit (32 days)
DEFAULT_DURATION_HOURS = 24


@dataclass
class PollStore:
    """Votes of one sandbox: message id → user id → the answer ids they chose."""

    votes: dict[str, dict[int, list[int]]] = field(default_factory=dict)


def store_of(sb: Sandbox) -> PollStore:
    """The poll votes of ``sb`` (created on first use)."""
    return per_sandbox(sb, PollStore, PollStore)


def _parseiso_time(text: str) -> float:
    from datetime import datetime  # noqa: PLC0415 - only for expiry checks

    return datetime.fromisoformat(text).timestamp()


def poll_errors(poll: Any) -> Errors:
    """Check a poll create request as Discord does; the errors sit under ``poll``."""
    errors: Errors = {}
    if not isinstance(poll, dict):
        _set(
            errors,
            ["poll"],
            _err("DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType"),
        )
        return errors
    question = poll.get("question")
    text = question.get("text") if isinstance(question, dict) else None
    if not isinstance(text, str) or not text:
        _set(
            errors,
            ["poll", "question", "text"],
            _err("BASE_TYPE_REQUIRED", "This field is required"),
        )
    elif len(text) > MAX_QUESTION:
        _set(
            errors,
            ["poll", "question", "text"],
            _err("BASE_TYPE_MAX_LENGTH", f"Must be {MAX_QUESTION} or fewer in length."),
        )
    answers = poll.get("answers")
    if not isinstance(answers, list) or not 1 <= len(answers) <= MAX_ANSWERS:
        _set(
            errors,
            ["poll", "answers"],
            _err("BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {MAX_ANSWERS} in length."),
        )
    else:
        for i, answer in enumerate(answers):
            media = answer.get("poll_media") if isinstance(answer, dict) else None
            text = media.get("text") if isinstance(media, dict) else None
            path = ["poll", "answers", str(i), "poll_media", "text"]
            if not isinstance(text, str) or not text:
                _set(errors, path, _err("BASE_TYPE_REQUIRED", "This field is required"))
            elif len(text) > MAX_ANSWER:
                _set(
                    errors,
                    path,
                    _err("BASE_TYPE_MAX_LENGTH", f"Must be {MAX_ANSWER} or fewer in length."),
                )
    duration = poll.get("duration", DEFAULT_DURATION_HOURS)
    hours = whole_number(duration)
    if hours is None:
        _set(errors, ["poll", "duration"], _err("NUMBER_TYPE_COERCE", "Value is not int."))
    elif hours < 1:
        _set(
            errors,
            ["poll", "duration"],
            _err("NUMBER_TYPE_MIN", "int value should be greater than or equal to 1."),
        )
    elif hours > MAX_DURATION_HOURS:
        _set(
            errors,
            ["poll", "duration"],
            _err(
                "NUMBER_TYPE_MAX",
                f"int value should be less than or equal to {MAX_DURATION_HOURS}.",
            ),
        )
    if not isinstance(poll.get("allow_multiselect", False), bool):
        _set(
            errors,
            ["poll", "allow_multiselect"],
            _err("BASE_TYPE_BOOLEAN", "Must be either true or false."),
        )
    if poll.get("layout_type", 1) != 1:
        _set(
            errors,
            ["poll", "layout_type"],
            _err("ENUM_TYPE_COERCE", "Value is not a valid enum value."),
        )
    return errors


def new_poll(request: dict[str, Any], now: float | None = None) -> dict[str, Any]:
    """Discord's poll object for a (valid) create request: answers numbered from 1,
    ``expiry`` = now + duration, empty results."""
    start = time.time() if now is None else now
    hours = whole_number(request.get("duration", DEFAULT_DURATION_HOURS)) or DEFAULT_DURATION_HOURS
    return {
        "question": {"text": request["question"]["text"]},
        "answers": [
            {"answer_id": i, "poll_media": dict(a["poll_media"])}
            for i, a in enumerate(request["answers"], start=1)
        ],
        "expiry": iso_time(start + hours * 3600),
        "allow_multiselect": bool(request.get("allow_multiselect", False)),
        "layout_type": 1,
        "results": {"is_finalized": False, "answer_counts": []},
    }


def check_new_poll(
    sb: Sandbox, channel_id: int, body: dict[str, Any], *, by_bot: bool = True
) -> web.Response | None:
    """The refusal for a message body's ``poll`` (50035, or when the bot posts, 50013
    without Send Polls), or None. A webhook's token is its permission."""
    if "poll" not in body or body["poll"] is None:
        return None
    errors = poll_errors(body["poll"])
    if errors:
        return error(400, "Invalid Form Body", 50035, errors=errors)
    if by_bot and not sb.server.bot_may(channel_id, "send_polls"):
        return error(403, "Missing Permissions", 50013)
    return None


class PollRoutes:
    """The two poll REST routes, the votes and the results kept in each poll message."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self.store = store_of(sandbox)

    def routes(self) -> list[tuple[str, str, Any]]:
        """(method, path, handler) for the bot-authenticated REST routes."""
        return [
            ("POST", "/channels/{channel_id}/polls/{message_id}/expire", self.expire),
            ("GET", "/channels/{channel_id}/polls/{message_id}/answers/{answer_id}", self.voters),
        ]

    # ---- helpers -----------------------------------------------------------------------

    def _poll_message(self, channel_id: str, message_id: str) -> dict[str, Any] | web.Response:
        try:
            cid = int(channel_id)
        except ValueError:
            return error(404, "Unknown Channel", 10003)
        if not self.sb.world.is_text_channel(cid):
            return error(404, "Unknown Channel", 10003)
        msg = self.sb.find_message(cid, message_id)
        if msg is None:
            return error(404, "Unknown Message", 10008)
        if msg.get("poll") is None:
            return error(400, "Cannot expire a non-poll message", 520006)
        self._finalize_if_due(msg)
        return msg

    def _finalize_if_due(self, msg: dict[str, Any]) -> bool:
        """Mark the poll finalized once its expiry passed; True if it has ended."""
        poll = msg["poll"]
        if poll["results"]["is_finalized"]:
            return True
        if _parseiso_time(poll["expiry"]) <= time.time():
            poll["results"]["is_finalized"] = True
            return True
        return False

    def _recount(self, msg: dict[str, Any]) -> None:
        counts: dict[int, int] = {}
        for answers in self.store.votes.get(msg["id"], {}).values():
            for a in answers:
                counts[a] = counts.get(a, 0) + 1
        # me_voted: the bot's own vote; apps can not vote on Discord, so it is always false.
        msg["poll"]["results"]["answer_counts"] = [
            {"id": a, "count": n, "me_voted": False} for a, n in sorted(counts.items()) if n
        ]

    # ---- REST --------------------------------------------------------------------------

    async def expire(self, request: web.Request) -> web.Response:
        found = self._poll_message(
            request.match_info["channel_id"], request.match_info["message_id"]
        )
        if isinstance(found, web.Response):
            return found
        msg = found
        if msg["author"]["id"] != str(self.sb.world.bot_id):
            return error(403, "Missing Permissions", 50013)  # only the author ends a poll
        if msg["poll"]["results"]["is_finalized"]:
            return error(400, "Poll expired", 520001)
        msg["poll"]["expiry"] = iso_time(time.time())
        msg["poll"]["results"]["is_finalized"] = True
        self._recount(msg)
        gid = int(msg["guild_id"])
        self.sb.server.emit(gid, "MESSAGE_UPDATE", msg, INTENT_GUILD_MESSAGES)
        self.sb.log.line(f"poll ended: message {msg['id']} in channel {msg['channel_id']}")
        return json_response(msg)

    async def voters(self, request: web.Request) -> web.Response:
        found = self._poll_message(
            request.match_info["channel_id"], request.match_info["message_id"]
        )
        if isinstance(found, web.Response):
            return found
        msg = found
        try:
            answer_id = int(request.match_info["answer_id"])
            limit = int(request.query.get("limit", "25"))
            after = int(request.query.get("after", "0") or "0")
        except ValueError:
            return error(400, "Invalid Form Body", 50035)
        if answer_id not in {a["answer_id"] for a in msg["poll"]["answers"]}:
            return error(404, "Unknown Message", 10008)
        if not 1 <= limit <= 100:
            errors: Errors = {}
            _set(
                errors,
                ["limit"],
                _err("NUMBER_TYPE_MAX", "int value should be less than or equal to 100."),
            )
            return error(400, "Invalid Form Body", 50035, errors=errors)
        ids = sorted(
            uid
            for uid, answers in self.store.votes.get(msg["id"], {}).items()
            if answer_id in answers and uid > after
        )
        users = [u for u in (self.sb.world.user(uid) for uid in ids[:limit]) if u is not None]
        return json_response({"users": users})

    # ---- a user votes (control API) ----------------------------------------------------

    def vote(
        self, channel_id: str, message_id: str, user_id: int, answer_id: int, add: bool
    ) -> dict[str, Any]:
        """A user votes for (or takes back) ``answer_id``; raises ValueError/KeyError on a refusal."""
        found = self._poll_message(channel_id, message_id)
        if isinstance(found, web.Response):
            raise KeyError(f"unknown poll message {message_id} in channel {channel_id}")
        msg = found
        poll = msg["poll"]
        gid = int(msg["guild_id"])
        index = self.sb.world.guild_index(gid)
        if index is None or self.sb.world.member(index, user_id) is None:
            raise ValueError(f"user {user_id} is not a member of guild {gid}")
        if answer_id not in {a["answer_id"] for a in poll["answers"]}:
            raise ValueError(
                f"the poll has no answer {answer_id} (answers are 1 to {len(poll['answers'])})"
            )
        if poll["results"]["is_finalized"]:
            raise ValueError("the poll has ended; votes are closed")
        mine = self.store.votes.setdefault(msg["id"], {}).setdefault(user_id, [])
        if add:
            if answer_id in mine:
                raise ValueError(f"user {user_id} already voted for answer {answer_id}")
            if mine and not poll["allow_multiselect"]:
                raise ValueError(
                    f"user {user_id} already voted for answer {mine[0]} and the poll allows one answer"
                )
            mine.append(answer_id)
        else:
            if answer_id not in mine:
                raise ValueError(f"user {user_id} has no vote for answer {answer_id}")
            mine.remove(answer_id)
        self._recount(msg)
        event = "MESSAGE_POLL_VOTE_ADD" if add else "MESSAGE_POLL_VOTE_REMOVE"
        payload = {
            "user_id": str(user_id),
            "channel_id": msg["channel_id"],
            "message_id": msg["id"],
            "guild_id": str(gid),
            "answer_id": answer_id,
        }
        self.sb.server.emit(gid, event, payload, INTENT_GUILD_MESSAGE_POLLS)
        return {"results": poll["results"], **payload}


def control_routes(sb: Sandbox) -> list[tuple[str, str, Any]]:
    """``POST|DELETE /polls/{channel_id}/{message_id}/votes`` ``{user_id, answer_id}``."""
    polls = PollRoutes(sb)

    def handler(add: bool) -> Any:
        async def vote(request: web.Request) -> web.Response:
            import json  # noqa: PLC0415

            try:
                body = json.loads(await request.read() or b"{}")
                user_id = int(body["user_id"])
                answer_id = int(body["answer_id"])
            except (ValueError, KeyError, TypeError):
                return json_response(
                    {"error": "user_id and answer_id (integers) are required"}, 400
                )
            try:
                result = polls.vote(
                    request.match_info["channel_id"],
                    request.match_info["message_id"],
                    user_id,
                    answer_id,
                    add,
                )
            except KeyError as exc:
                return json_response({"error": str(exc.args[0])}, 404)
            except ValueError as exc:
                return json_response({"error": str(exc)}, 400)
            return json_response(result)

        return vote

    path = "/polls/{channel_id}/{message_id}/votes"
    return [("POST", path, handler(True)), ("DELETE", path, handler(False))]
