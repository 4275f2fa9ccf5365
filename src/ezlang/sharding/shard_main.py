"""Entry point of a shard process: ``python -m ezlang.sharding.shard_main BOT_FILE``.

Started only by :class:`ezlang.sharding.manager.ShardManager`, which passes the shard id and
count in argv/environment and the IPC socket as an inherited file descriptor; the token comes
over the IPC channel. A ``.ez`` bot runs through ``ezlang.lang.runner.run_file`` with the
agent as its ``setup``; a ``.py`` discord.py bot runs as ``__main__`` with ``Client.start``
wrapped (see :mod:`ezlang.sharding.pybot`).
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

from ezlang.sharding.agent import ENV_FD, ENV_MANAGER_PID, EXIT_FATAL


def _check_parent() -> None:
    # The manager may have died between fork and now; an orphan must not connect to Discord.
    from ezlang.sharding.agent import manager_alive

    expected = os.environ.get(ENV_MANAGER_PID)
    if expected and not manager_alive(int(expected)):
        raise SystemExit(0)


def run_ez(path: Path) -> int:
    """Run a ``.ez`` bot as this shard."""
    from ezlang.extensions import install
    from ezlang.lang.runner import run_file
    from ezlang.sharding.agent import ez_setup

    install()
    return run_file(path, setup=ez_setup)


def run_py(path: Path) -> int:
    """Run a discord.py bot file as this shard."""
    from ezlang.sharding import pybot

    pybot.install_start_hook()
    sys.path.insert(0, str(path.parent))
    sys.argv = [str(path)]
    runpy.run_path(str(path), run_name="__main__")
    from ezlang.sharding import agent

    if agent.current() is None:
        print(
            f"error: {path.name} ended without starting its discord.Client "
            "(call client.run(...) or await client.start(...))",
            file=sys.stderr,
        )
        return EXIT_FATAL
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the bot file named in ``argv`` as the shard described by the environment."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or ENV_FD not in os.environ:
        print("shard_main is started by the ezlang shard manager, not by hand", file=sys.stderr)
        return 2
    _check_parent()
    path = Path(args[0])
    if path.suffix == ".py":
        return run_py(path)
    return run_ez(path)


if __name__ == "__main__":
    raise SystemExit(main())
