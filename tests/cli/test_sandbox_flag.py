"""``ezlang run FILE --sandbox``: an embedded local Discord, a real bot round trip, clean stop."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

BOT = """\
on_ready(func(client) {
    print("ready", client.guilds.cache.size)
})
on_message(func(message) {
    if message.author.bot { return }
    if message.content == "!ping" {
        reply(message, "pong from " + get_argument("NAME"))
    }
})
bot_start()
"""

HINT = re.compile(
    r"sandbox: send a message: +"
    r"curl -X POST (?P<control>http://\S+)/messages -d '\{\"channel_id\": \"(?P<channel>\d+)\", "
)


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


def _get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def _readline(stream, deadline: float) -> str:
    # The child writes whole lines and we only read while it runs: readline returns.
    if time.monotonic() > deadline:
        pytest.fail("deadline passed waiting for output")
    return stream.readline()


@pytest.mark.timeout(180)
def test_sandbox_bot_replies_and_stops_cleanly(tmp_path):
    prog = tmp_path / "bot.ez"
    prog.write_text(BOT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ezlang", "run", str(prog), "--sandbox", "NAME=ezlang"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONIOENCODING="utf-8"),
    )
    try:
        deadline = time.monotonic() + 150
        assert _readline(proc.stderr, deadline).startswith("sandbox: Discord sandbox with 5000")
        hint = HINT.match(_readline(proc.stderr, deadline))
        assert hint, "the sandbox hint lines come first on stderr"
        replies_hint = _readline(proc.stderr, deadline)
        assert replies_hint.startswith("sandbox: see the bot's replies: curl " + hint["control"])
        control, channel = hint["control"], int(hint["channel"])
        line = _readline(proc.stdout, deadline)
        assert line.strip() == "ready 5000"

        _post(f"{control}/messages", {"channel_id": channel, "content": "!ping"})
        replies: list = []
        while time.monotonic() < deadline:
            replies = [
                m["content"]
                for m in _get(f"{control}/channels/{channel}/messages")  # type: ignore[union-attr]
                if isinstance(m, dict)
            ]
            if "pong from ezlang" in replies:
                break
            time.sleep(0.1)  # polling the sandbox until the reply shows up (deadline above)
        assert "pong from ezlang" in replies

        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_sandbox_subcommand_is_the_sandbox_cli(tmp_path):
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    helped = subprocess.run(
        [sys.executable, "-m", "ezlang", "sandbox", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert helped.returncode == 0
    assert "ezlang sandbox" in helped.stdout and "--guilds" in helped.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "ezlang", "sandbox", "--no-such-flag"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert bad.returncode == 2
