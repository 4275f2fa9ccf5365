"""The core EasyLang builtins (``print``, ``length``, ``json_parse``, ``wait`` ...).

Importing this module registers every core builtin of the language reference with
:mod:`ezlang.lang.registry`. Builtins take and return EasyLang values (see
``docs/ARCHITECTURE.md``: ``None``, ``bool``, ``int``/``float``, ``str``, ``list``, ``dict``,
callables and ``EzObject`` host objects) and report user mistakes as
``EzError(kind, message)`` whose message names the builtin and the argument, for example
``upper() expects a string as its argument, got number``. The runtime adds the ``.ez``
position.

Only the standard library is imported here: ``ezlang run empty.ez`` must stay fast, so
nothing heavy (discord.py, aiohttp, rich) may be pulled in at import time.
"""

from ezlang.lang.builtins import collections, core, numbers, text  # noqa: F401  (they register)
