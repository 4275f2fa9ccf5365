"""Units of the session store (ezlang.sharding.sessions) and the stop/restart options."""

from __future__ import annotations

import signal
import time

import pytest

from ezlang.lang.errors import EzError
from ezlang.sharding import builtins
from ezlang.sharding.manager import keep_sessions_on
from ezlang.sharding.policy import RestartPolicy
from ezlang.sharding.sessions import MAX_OFFERS, SessionStore, session_file

REPORT = {"session_id": "abc", "seq": 7, "resume_gateway_url": "ws://127.0.0.1:1/gateway"}


def test_a_reported_session_is_offered_within_the_window_at_most_twice() -> None:
    store = SessionStore(60.0)
    store.report(1, 4, REPORT)
    assert store.offer(1, 4) == REPORT
    assert store.offer(1, 4) == REPORT
    assert MAX_OFFERS == 2 and store.offer(1, 4) is None  # two replacements could not use it
    store.report(1, 4, {**REPORT, "seq": 9})  # a live process reported it again
    assert store.offer(1, 4) == {**REPORT, "seq": 9}


def test_no_offer_outside_the_window_for_another_shard_count_or_after_an_end() -> None:
    store = SessionStore(60.0)
    store.report(0, 4, REPORT)
    assert not store.resumable(0, 4, now=time.time() + 61)
    assert store.offer(0, 8) is None  # a session of shard 0 of 4 is not shard 0 of 8
    store.report(0, 4, REPORT)
    store.report(0, 4, {"session_id": None})  # ended on purpose (1000)
    assert store.offer(0, 4) is None
    store.report(2, 4, {"session_id": "x", "seq": "7", "resume_gateway_url": "ws://h"})
    assert store.offer(2, 4) is None  # a malformed report is no session
    assert SessionStore(0.0).offer(0, 4) is None


def test_the_session_file_is_private_scoped_to_its_api_and_removed_when_empty(tmp_path) -> None:
    path = session_file(tmp_path / "bot.ez")
    assert path.name == ".bot.ez.sessions.json"
    store = SessionStore(60.0, path, scope="http://a/api/v10")
    store.report(3, 4, REPORT)
    store.save()
    assert path.stat().st_mode & 0o777 == 0o600
    again = SessionStore(60.0, path, scope="http://a/api/v10")
    assert again.load() == 1 and again.offer(3, 4) == REPORT
    other = SessionStore(60.0, path, scope="http://b/api/v10")
    assert other.load() == 0  # another API's sessions are not ours
    path.write_text("{not json")
    assert SessionStore(60.0, path, scope="http://a/api/v10").load() == 0
    store.forget()
    store.save()
    assert not path.exists()


def test_only_sigterm_keeps_the_sessions() -> None:
    assert keep_sessions_on(signal.SIGTERM) is True
    assert keep_sessions_on(signal.SIGINT) is False
    assert keep_sessions_on(None) is False


async def test_stop_shards_checks_its_options() -> None:
    with pytest.raises(EzError) as info:
        await builtins.stop_shards({"keep_sessions": "yes"})
    assert info.value.kind == "TypeError" and "keep_sessions" in info.value.message
    with pytest.raises(EzError) as info:
        await builtins.stop_shards({"keep_session": True})
    assert info.value.kind == "ValueError" and "known: keep_sessions" in info.value.message
    with pytest.raises(EzError) as info:
        await builtins.stop_shards(5)
    assert info.value.kind == "TypeError"


def test_a_first_crash_with_a_resumable_session_restarts_at_once_then_backs_off() -> None:
    policy = RestartPolicy(max_restarts=5, restart_window=3600)
    assert policy.record_crash(0.0)
    assert policy.next_delay(resumable=True) == 0.0
    assert policy.next_delay(resumable=False) == 1.0
    assert policy.record_crash(1.0)
    assert policy.next_delay(resumable=True) == 2.0  # crashing again: the usual backoff
