"""The sandbox's own error for a request it can not honour, and the argument check every
part of the control API uses."""

from __future__ import annotations


class SandboxError(ValueError):
    """A request to the sandbox that can not be honoured (unknown channel, bad value, …)."""


def as_snowflake(value: int | str, name: str) -> int:
    """``value`` (an id, as a number or a string) as an int, or a SandboxError naming it."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SandboxError(f"{name} must be a snowflake, got {value!r}") from None
