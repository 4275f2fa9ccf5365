"""Multi-host sharding over Redis: the bot's hosts share one Redis database.

One module per concern, each a second implementation of a small interface of
:mod:`ezlang.sharding.interfaces` where one exists:

* :mod:`.identify_queue` — :class:`RedisIdentifyQueue`, Discord's identify limit across hosts;
* :mod:`.directory` — :class:`RedisShardDirectory`, which host runs which shard (heartbeats);
* :mod:`.settings` — :class:`SharedSettings`, what the first host fixes for all (total_shards …);
* :mod:`.bus` — :class:`RedisBus`, signed cross-host calls over pub/sub;
* :mod:`.signing` — the HMAC envelope every bus message travels in;
* :mod:`.multihost` — :class:`RedisMultiHost`, one manager's membership, and its ``remote``;
* :mod:`.factory` — :func:`make_backends`, what the manager calls for the ``redis`` option;
* :mod:`.connection` and :mod:`.keys` — clients, URL checks, warnings, key names.

The manager imports this package only when the ``redis`` option (or ``$EZLANG_REDIS_URL``) is
set; nothing here is loaded otherwise.
"""
