"""The bot toolkit: batteries that EasyLang bots need beyond the language and Discord.

It builds on ``ezlang.lang`` only (never on ``ezlang.discord`` or ``ezlang.sharding``), so a
plain script can use it as well as a bot. Today it holds the built-in database
(:mod:`ezlang.toolkit.db`).
"""
