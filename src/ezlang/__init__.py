"""ezlang — EasyLang, a beginner-first language for Discord bots, with production sharding.

Layers (each imports only the ones before it):

* ``ezlang.lang``     — the language: lexer, parser, compiler to Python bytecode, runtime.
* ``ezlang.discord``  — the bot runtime (EasyLang builtins on discord.py).
* ``ezlang.sharding`` — the shard manager, the in-shard agent, IPC, identify queue.
* ``ezlang.sandbox``  — a local Discord (stands alone; shares no code with the client side).
* ``ezlang.cli``      — wires them together.
"""

__version__ = "0.1.0"
