"""A manager process for the signal tests: ``python run_manager.py API SHARDS [BOT]``; token
from DISCORD_TOKEN; BOT defaults to pybot.py. Spawns, supervises until SIGINT/SIGTERM, then
stops every shard."""

import asyncio
import sys
from pathlib import Path

from ezlang.sharding.manager import ShardManager

bot = Path(sys.argv[3]) if len(sys.argv) > 3 else Path(__file__).with_name("pybot.py")
options = {
    "api": sys.argv[1],
    "total_shards": int(sys.argv[2]),
    "heartbeat_interval": 0.5,
    "heartbeat_timeout": 3,
    "progress": True,
}
asyncio.run(ShardManager(bot, options).serve())
print("manager stopped", flush=True)
