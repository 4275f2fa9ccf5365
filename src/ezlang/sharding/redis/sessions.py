"""The manager's resumable sessions in Redis (the ``redis`` option's session file).

One hash per bot, ``ezlang:{app}:sessions``: field = shard id, value = that shard's session as
:meth:`~ezlang.sharding.sessions.SessionStore.dump_one` writes it (with the API it belongs
to). Each manager writes and reads only the fields of its own shards, so the managers of one
bot on several machines never overwrite each other; a manager started on another machine
with the same ``shard_list`` resumes them. The hash expires when nobody wrote it for twice the
resume window: older sessions could not be resumed anyway.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ezlang.sharding.redis.keys import RedisKeys
    from ezlang.sharding.sessions import SessionStore


class RedisSessions:
    """Reads and writes the sessions of a manager's shards in Redis."""

    def __init__(self, client: Any, keys: RedisKeys) -> None:
        self.client = client
        self.key = keys.prefix + "sessions"

    async def write(self, store: SessionStore, shard_ids: list[int]) -> None:
        """Store the sessions of ``shard_ids`` (a shard without one loses its field)."""
        rows = {i: store.dump_one(i) for i in shard_ids}
        keep = {str(i): text for i, text in rows.items() if text}
        gone = [str(i) for i, text in rows.items() if not text]
        pipe = self.client.pipeline(transaction=False)
        if keep:
            pipe.hset(self.key, mapping=keep)
            pipe.expire(self.key, max(1, math.ceil(2 * store.window)))
        if gone:
            pipe.hdel(self.key, *gone)
        await pipe.execute()

    async def read(self, store: SessionStore, shard_ids: list[int]) -> int:
        """Add the stored sessions of ``shard_ids`` to ``store``; returns how many."""
        if not shard_ids:
            return 0
        values = await self.client.hmget(self.key, [str(i) for i in shard_ids])
        loaded = 0
        for value in values:
            if value:
                text = value.decode() if isinstance(value, bytes) else str(value)
                loaded += store.load_text(text)
        return loaded
