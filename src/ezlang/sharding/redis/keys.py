"""Names of a bot's Redis keys and channels, and of this host among the bot's hosts."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

__all__ = ["HOST_NAME_ENV", "RedisKeys", "default_host_name"]

#: Environment variable naming this host in the shard directory (default: machine name and pid).
HOST_NAME_ENV = "EZLANG_HOST_NAME"


def default_host_name() -> str:
    """This manager's name in the directory: ``$EZLANG_HOST_NAME`` or ``<machine>/<pid>``.

    The pid is part of the default so two managers on one machine (a common test set-up, and a
    way to use more cores) never mistake each other for themselves.
    """
    return os.environ.get(HOST_NAME_ENV) or f"{socket.gethostname()}/{os.getpid()}"


@dataclass(frozen=True, slots=True)
class RedisKeys:
    """Names of every Redis key of one bot (application id)."""

    app_id: str

    @property
    def prefix(self) -> str:
        return f"ezlang:{{{self.app_id}}}:"

    @property
    def config(self) -> str:
        """Hash: the shared decisions (total_shards, max_concurrency, identify_window, …)."""
        return self.prefix + "config"

    @property
    def shards(self) -> str:
        """Hash: shard id → JSON info (host, pid, status, ready, …)."""
        return self.prefix + "shards"

    @property
    def host_prefix(self) -> str:
        return self.prefix + "host:"

    def host(self, name: str) -> str:
        """String with a TTL: present while host ``name`` heartbeats."""
        return self.host_prefix + name

    def identify_bucket(self, bucket: int) -> str:
        """String with a TTL of one window: present while bucket ``bucket`` is taken."""
        return f"{self.prefix}identify:{bucket}"

    @property
    def identify_epoch(self) -> str:
        """String: which Redis run the identify buckets belong to and when granting may start."""
        return self.prefix + "identify:epoch"

    def requests(self, host: str) -> str:
        """Pub/sub channel on which host ``host`` takes cross-host requests."""
        return f"{self.prefix}req:{host}"

    def replies(self, host: str) -> str:
        """Pub/sub channel on which host ``host`` receives replies to its requests."""
        return f"{self.prefix}rep:{host}"
