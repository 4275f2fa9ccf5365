"""What a shard answers to ``eval`` and ``fetch``: EasyLang code run with ``client`` bound to
the shard's read-only client view (each distinct code string compiled once and cached), and
dotted paths of that view. :class:`ShardEval` is a part of
:class:`ezlang.sharding.agent.ShardAgent`.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from ezlang.lang.asyncbridge import Done, KeptRunner
from ezlang.lang.errors import EzError
from ezlang.sharding.plain import Unsendable, to_plain

#: The names a ``broadcast_eval`` code string sees: the shard's client view, and the plain
#: values the caller passed as ``{context: ...}`` (null without it), as in discord.js.
EVAL_PARAMS = ("client", "context")


def _to_ez_error(exc: BaseException) -> EzError:
    from ezlang.lang import to_ez_error

    return to_ez_error(exc)


class ShardEval:
    """The ``eval`` and ``fetch`` answers of a shard agent (which sets these attributes)."""

    shard_id: int
    client: Any
    view: Any
    _snippets: dict[str, Any]
    _runner: KeptRunner

    def _require_client(self) -> Any:
        if self.client is None or self.view is None:
            raise EzError("ShardingError", f"shard {self.shard_id} has no client yet")
        return self.view

    def _compiled(self, code: str) -> Any:
        fn = self._snippets.get(code)
        if fn is None:
            import ezlang.lang.builtins  # noqa: F401  (core builtins; a .py bot has not loaded them)
            from ezlang.extensions import install
            from ezlang.lang import compile_snippet

            install()
            try:
                fn = compile_snippet(code, params=EVAL_PARAMS, filename="<broadcast_eval>")
            except EzError as exc:
                raise _with_pos(exc) from None
            if len(self._snippets) > 256:  # a bot generating code strings must not leak memory
                self._snippets.clear()
            self._snippets[code] = fn
        return fn

    def eval_now(self, code: str, timeout: float | None = None, context: Any = None) -> Any:
        """Run EasyLang ``code`` with ``client`` bound to this shard's client view and
        ``context`` to the caller's plain values (``broadcast_eval``'s ``context`` option).

        Returns the value when the code finishes without pausing (most evals), else an
        awaitable that finishes it within ``timeout`` seconds. Like ``call_async``, but the
        synchronous case costs no task and no extra trip through the event loop, and the
        greenlet the code runs in is kept for the next eval (see ``KeptRunner``).
        """
        view = self._require_client()
        fn = self._compiled(code)
        out = self._runner.run(functools.partial(fn, view), context)
        if type(out) is Done:
            if out.ok:
                try:
                    return to_plain(out.value)
                except Unsendable as exc:
                    raise self._unsendable(exc) from None
            raise _with_pos(_to_ez_error(out.value)) from None
        # The code paused (wait(), a REST call, ...): drive it to its end in a task.
        return self._finish_eval(out, timeout)

    async def _finish_eval(self, finish: Any, timeout: float | None) -> Any:
        try:
            value = await (finish if timeout is None else asyncio.wait_for(finish, timeout))
        except TimeoutError:
            raise EzError("TimeoutError", f"the code did not finish within {timeout:g} s") from None
        except EzError as exc:
            raise _with_pos(exc) from None
        except Exception as exc:
            raise _with_pos(_to_ez_error(exc)) from None
        try:
            return to_plain(value)
        except Unsendable as exc:
            raise self._unsendable(exc) from None

    def _unsendable(self, exc: Unsendable) -> EzError:
        return EzError("ShardingError", f"the code returned a value that cannot be sent: {exc}")

    def fetch(self, path: str) -> Any:
        """The value at dotted ``path`` of the client view (``guilds.cache.size``)."""
        try:
            return to_plain(resolve_path(self._require_client(), path))
        except Unsendable as exc:
            raise self._unsendable(exc) from None


def resolve_path(root: Any, path: str) -> Any:
    """Walk a dotted path (``guilds.cache.size``; a leading ``client.`` is allowed) of ``root``.

    An unknown name is a ``ValueError`` that lists the valid names at that point.
    """
    if not isinstance(path, str) or not path.strip():
        raise EzError("ValueError", "the property path must be a non-empty string")
    parts = path.strip().split(".")
    if parts[0] == "client" and len(parts) > 1:
        parts = parts[1:]
    value = root
    walked = "client"
    for part in parts:
        keys_fn = getattr(value, "ez_keys", None)
        if callable(keys_fn):
            keys = list(keys_fn())
            if part not in keys:
                raise EzError(
                    "ValueError",
                    f"unknown property '{part}' of {walked} in '{path}'; valid: {', '.join(keys)}",
                )
            value = value.ez_get(part)
        elif isinstance(value, dict):
            if part not in value:
                raise EzError(
                    "ValueError",
                    f"unknown property '{part}' of {walked} in '{path}'; "
                    f"valid: {', '.join(map(str, value))}",
                )
            value = value[part]
        else:
            raise EzError(
                "ValueError", f"{walked} has no properties (it is a value), so '{path}' is invalid"
            )
        walked += "." + part
    return value


def _with_pos(err: EzError) -> EzError:
    """The error with its line/column in the eval code folded into the message (positions do
    not travel over IPC)."""
    pos = err.pos
    if pos is None and err.stack:
        pos = err.stack[-1][1]
    if pos is None or "line" in err.message:
        return err
    return EzError(err.kind, f"{err.message} (line {pos.line}, column {pos.col} of the code)")
