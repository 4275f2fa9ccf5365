"""Lazy registration of the Discord and sharding builtins (see ``ezlang.lang.registry``).

Each layer lists the builtin names it provides here; the module is imported the first time a
program calls one of them, so ``ezlang run`` of a program without Discord code never imports
discord.py. Each module named must call ``registry.register`` for every name listed.
"""

from __future__ import annotations

from ezlang.lang.registry import register_lazy

DISCORD_BUILTINS = (
    "bot_start",
    "bot_stop",
    "on_ready",
    "on_message",
    "listen",
    "send_message",
    "reply",
    "react",
    "set_status",
    "set_activity",
    "set_intents",
    "get_client",
    "get_shard_info",
)

SHARDING_BUILTINS = (
    "create_shard_manager",
    "spawn_shards",
    "broadcast_eval",
    "fetch_client_values",
    "respawn_shard",
    "get_shard_stats",
    "stop_shards",
)

DB_BUILTINS = ("db_get", "db_set", "db_delete", "db_has", "db_keys", "db_incr")

FILES_BUILTINS = (
    "fs_read_file",
    "fs_write_file",
    "fs_exists",
    "fs_is_file",
    "fs_is_dir",
    "fs_read_dir",
    "path_join",
)

PYTHON_BUILTINS = ("import_python",)


def install() -> None:
    """Declare every extension builtin (idempotent)."""
    register_lazy(DISCORD_BUILTINS, "ezlang.discord.builtins")
    register_lazy(SHARDING_BUILTINS, "ezlang.sharding.builtins")
    register_lazy(DB_BUILTINS, "ezlang.toolkit.db.builtins")
    register_lazy(FILES_BUILTINS, "ezlang.toolkit.files")
    register_lazy(PYTHON_BUILTINS, "ezlang.toolkit.pymodules")
