"""The file builtins: ``fs_read_file``, ``fs_write_file``, ``fs_exists``, ``fs_is_file``,
``fs_is_dir``, ``fs_read_dir`` and ``path_join``.

Registered lazily (``ezlang.extensions.FILES_BUILTINS``). A relative path is relative to the
folder of the main script (``ezlang run bots/bot.ez`` reads ``fs_read_file("words.txt")`` from
``bots/words.txt`` whatever the current directory is), so a bot finds its files the same way
from any terminal, service manager or shard process. In the REPL there is no script, so paths
are relative to the current directory.

Files are UTF-8 text. Every failure (missing file, a folder where a file was expected, no
permission, not UTF-8) is an EasyLang error naming the builtin and the path; the runtime adds
the ``.ez`` position of the call.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

from ezlang.lang import context
from ezlang.lang.errors import EzError
from ezlang.lang.registry import register
from ezlang.lang.values import type_name

_MISSING: Any = object()
_ORDINALS = ("first", "second")


def base_dir() -> Path:
    """The folder relative paths start from: the main script's, else the current directory."""
    main = context.current().main_file
    if main is None:
        return Path.cwd()
    return Path(os.path.abspath(main)).parent


def _path(fname: str, value: Any, pos: int = 0, nargs: int = 1) -> str:
    if type(value) is not str:
        got = "nothing" if value is _MISSING else type_name(value)
        which = "its argument" if nargs == 1 else f"its {_ORDINALS[pos]} argument"
        raise EzError("TypeError", f"{fname}() expects a path (a string) as {which}, got {got}")
    if value == "":
        raise EzError("ValueError", f'{fname}() got an empty path (use "." for the folder itself)')
    if "\0" in value:
        raise EzError("ValueError", f"{fname}() got a path containing a NUL character")
    return value


def resolve(path: str) -> Path:
    """``path`` as an absolute path (relative paths start at :func:`base_dir`)."""
    return base_dir() / path


def _os_error(fname: str, path: str, exc: OSError) -> EzError:
    """The EasyLang error for a failed file operation (chosen by errno, not by message)."""
    shown = f'"{path}"'
    code = exc.errno
    if code == errno.ENOENT:
        where = resolve(path)
        message = f"no such file or folder: {shown} (looked for {where})"
    elif code == errno.EISDIR:
        message = f"{shown} is a folder, not a file (use fs_read_dir to list it)"
    elif code == errno.ENOTDIR:
        message = f"{shown}: a part of the path is a file, not a folder"
    elif code in (errno.EACCES, errno.EPERM):
        message = f"permission denied: {shown}"
    else:
        message = f"{shown}: {exc.strerror or exc}"
    return EzError("Error", f"{fname}(): {message}")


def fs_read_file(path: Any = _MISSING) -> str:
    """The text of a UTF-8 file."""
    p = _path("fs_read_file", path)
    try:
        data = resolve(p).read_bytes()
    except OSError as exc:
        raise _os_error("fs_read_file", p, exc) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EzError(
            "ValueError",
            f'fs_read_file(): "{p}" is not UTF-8 text (byte {exc.start} cannot be decoded)',
        ) from None


def fs_write_file(path: Any = _MISSING, content: Any = _MISSING) -> None:
    """Create or overwrite a file with ``content`` (a string). Folders are not created."""
    p = _path("fs_write_file", path, 0, 2)
    if type(content) is not str:
        got = "nothing" if content is _MISSING else type_name(content)
        raise EzError(
            "TypeError",
            f"fs_write_file() expects the text to write (a string) as its second argument, got "
            f"{got} (convert it with str() or json_stringify())",
        )
    target = resolve(p)
    if not target.parent.is_dir():
        raise EzError(
            "Error",
            f'fs_write_file(): the folder of "{p}" does not exist ({target.parent}); '
            "fs_write_file does not create folders",
        )
    try:
        target.write_text(content, encoding="utf-8")
    except OSError as exc:
        raise _os_error("fs_write_file", p, exc) from None


def fs_exists(path: Any = _MISSING) -> bool:
    """True when a file or folder exists at ``path``."""
    return resolve(_path("fs_exists", path)).exists()


def fs_is_file(path: Any = _MISSING) -> bool:
    """True when ``path`` is a file."""
    return resolve(_path("fs_is_file", path)).is_file()


def fs_is_dir(path: Any = _MISSING) -> bool:
    """True when ``path`` is a folder."""
    return resolve(_path("fs_is_dir", path)).is_dir()


def fs_read_dir(path: Any = ".") -> list[str]:
    """The names in a folder (files and folders, not ``.``/``..``), sorted."""
    p = _path("fs_read_dir", path)
    try:
        return sorted(os.listdir(resolve(p)))
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            raise EzError("Error", f'fs_read_dir(): "{p}" is a file, not a folder') from None
        raise _os_error("fs_read_dir", p, exc) from None


def path_join(*parts: Any) -> str:
    """Join path parts with ``/`` and tidy the result (``a/./b/../c`` → ``a/c``)."""
    if not parts:
        raise EzError("ArgumentError", "path_join() needs at least one path part")
    for i, part in enumerate(parts):
        if type(part) is not str:
            raise EzError(
                "TypeError",
                f"path_join() expects strings, got {type_name(part)} as part {i + 1}",
            )
    return os.path.normpath(os.path.join(*parts))


for _fn in (fs_read_file, fs_write_file, fs_exists, fs_is_file, fs_is_dir, fs_read_dir, path_join):
    register(_fn.__name__, _fn)
