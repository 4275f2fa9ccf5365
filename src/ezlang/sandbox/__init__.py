"""A local Discord for developing, testing and load-testing bots offline.

``ezlang.sandbox`` speaks Discord's real v10 gateway and REST protocol on aiohttp, so
unmodified clients (discord.py, hikari, …) connect to it, and it enforces Discord's
sharding rules (identify concurrency, guilds per shard, close codes, resume). It
imports nothing from the rest of ezlang on purpose: a protocol misunderstanding can
not hide by being made the same way on both sides. See ``docs/SANDBOX.md``.
"""

from .core import Sandbox, SandboxError
from .world import World

__all__ = ["Sandbox", "SandboxError", "World"]
