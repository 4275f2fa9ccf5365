"""Sharding: the shard manager, the in-shard agent, IPC, identify queue, supervision policy.

``from ezlang.sharding import ShardManager, ShardOptions`` — imported lazily, so a shard
process (which only needs the agent) does not pay for the manager's imports.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ShardManager", "ShardOptions", "parse_options"]


def __getattr__(name: str) -> Any:
    if name == "ShardManager":
        from ezlang.sharding.manager import ShardManager

        return ShardManager
    if name in ("ShardOptions", "parse_options"):
        from ezlang.sharding import options

        return getattr(options, name)
    raise AttributeError(f"module 'ezlang.sharding' has no attribute {name!r}")
