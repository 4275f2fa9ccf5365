"""A manager process for the signal tests: ``python run_manager.py API SHARDS``; token from
DISCORD_TOKEN. Spawns, supervises until SIGINT/SIGTERM, then stops every shard."""

import asyncio
import sys
from pathlib import Path

from ezlang.sharding.manager import ShardManager

bot = Path(__file__).with_name("pybot.py")
options = {
    "api": sys.argv[1],
    "total_shards": int(sys.argv[2]),
    "heartbeat_interval": 0.5,
    "heartbeat_timeout": 3,
    "progress": True,
}
asyncio.run(ShardManager(bot, options).serve())
print("manager stopped", flush=True)
