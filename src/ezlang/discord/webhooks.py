"""EasyLang builtins for channel webhooks (``WEBHOOK_BUILTINS``), with the older EasyLang's
names and argument order: ``create_webhook(channel, name, avatar_url?)``,
``fetch_webhook(webhook_url)``, ``fetch_webhooks(channel)``, ``webhook_delete(webhook_url)``,
``webhook_edit(webhook_url, options)``, ``webhook_send(webhook_url, content, options?)``.

A webhook is known by its URL (``https://discord.com/api/webhooks/ID/TOKEN``, what Discord
shows and ``webhook.url`` holds). discord.py's ``Webhook.from_url`` reads the id and token
from it and sends each request to the REST base the bot uses, so a URL works wherever the bot
runs. The URL routes need no permission (the token is the key); creating, listing and moving
a webhook to another channel need Manage Webhooks, and a refusal names it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
import discord

from ezlang.discord import convert
from ezlang.discord.messages import _content_and_options, discord_error
from ezlang.discord.responses import allowed_mentions
from ezlang.discord.runtime import runtime
from ezlang.lang.errors import EzError
from ezlang.lang.registry import register
from ezlang.lang.values import to_repr

__all__ = ["BUILTINS", "webhook_object"]

PERMISSION = "Manage Webhooks"
AVATAR_MAX_BYTES = 8 * 1024 * 1024  # Discord refuses bigger images
_SEND_KEYS = ("username", "avatar_url", "allowed_mentions", "poll")


class WebhookObject(convert.DiscordObject):
    what = "a webhook"


def webhook_object(w: discord.Webhook) -> dict[str, Any]:
    """``{id, name, url, channel_id, guild_id, avatar, token}`` of a webhook."""
    return WebhookObject(
        id=str(w.id),
        name=w.name,
        url=w.url if w.token else None,
        channel_id=convert.snowflake(w.channel_id),
        guild_id=convert.snowflake(w.guild_id),
        avatar=None if w.avatar is None else w.avatar.key,
        token=w.token,
    )


def _client(what: str) -> discord.Client:
    return runtime().require_client(what)


def _from_url(
    client: discord.Client, url: Any, what: str, *, with_bot_token: bool = False
) -> discord.Webhook:
    if isinstance(url, dict):
        url = url.get("url")
    if not isinstance(url, str):
        raise EzError(
            "TypeError",
            f"{what} needs the webhook's URL (https://discord.com/api/webhooks/ID/TOKEN, "
            f"or a webhook object from create_webhook), not {to_repr(url)}",
        )
    try:
        return discord.Webhook.from_url(
            url.strip(), client=client, bot_token=client.http.token if with_bot_token else None
        )
    except ValueError:
        raise EzError(
            "ValueError",
            f"{what}: {url!r} is not a webhook URL; it looks like "
            "https://discord.com/api/webhooks/ID/TOKEN (copy it from the webhook's settings "
            "or use webhook.url)",
        ) from None


async def _avatar_bytes(url: Any, what: str) -> bytes:
    """Discord takes the avatar as image data, so the builtin downloads ``avatar_url``."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise EzError(
            "TypeError",
            f"{what}: avatar_url must be an http(s) URL of an image, not {to_repr(url)}",
        )
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
            async with http.get(url) as resp:
                if resp.status != 200:
                    raise EzError(
                        "ValueError",
                        f"{what}: could not download avatar_url {url} (HTTP {resp.status})",
                    )
                data = await resp.content.read(AVATAR_MAX_BYTES + 1)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise EzError(
            "ValueError",
            f"{what}: could not download avatar_url {url} ({exc or type(exc).__name__})",
        ) from None
    if len(data) > AVATAR_MAX_BYTES:
        raise EzError("ValueError", f"{what}: the avatar image is larger than 8 MB")
    try:
        discord.utils._get_mime_type_for_image(data)  # noqa: SLF001 - the check discord.py applies
    except ValueError:
        raise EzError(
            "ValueError", f"{what}: avatar_url {url} is not a PNG, JPEG, GIF or WebP image"
        ) from None
    return data


def _name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise EzError(
            "TypeError", f"{what} needs a name for the webhook (a string), not {to_repr(name)}"
        )
    if len(name) > 80:
        raise EzError(
            "ValueError", f"{what}: a webhook name has at most 80 characters, got {len(name)}"
        )
    return name


async def create_webhook(channel: Any, name: Any, avatar_url: Any = None) -> dict[str, Any]:
    """Create a webhook in a channel (needs Manage Webhooks); returns it, ``url`` included."""
    what = "create_webhook()"
    client = _client(what)
    cid = convert.channel_id_of(channel, what=f"{what} channel")
    payload: dict[str, Any] = {"name": _name(name, what)}
    if avatar_url is not None:
        payload["avatar"] = discord.utils._bytes_to_base64_data(
            await _avatar_bytes(avatar_url, what)
        )  # noqa: SLF001
    try:
        data = await client.http.create_webhook(cid, **payload)
    except discord.HTTPException as exc:
        raise discord_error(what, exc, PERMISSION) from None
    return webhook_object(discord.Webhook.from_state(data, client._connection))  # noqa: SLF001


async def fetch_webhooks(channel: Any) -> list[dict[str, Any]]:
    """The webhooks of a channel (needs Manage Webhooks)."""
    what = "fetch_webhooks()"
    client = _client(what)
    cid = convert.channel_id_of(channel, what=f"{what} channel")
    try:
        found = await client.http.channel_webhooks(cid)
    except discord.HTTPException as exc:
        raise discord_error(what, exc, PERMISSION) from None
    return [webhook_object(discord.Webhook.from_state(d, client._connection)) for d in found]  # noqa: SLF001


async def fetch_webhook(webhook_url: Any) -> dict[str, Any]:
    """The webhook behind a URL (its name, channel, avatar)."""
    what = "fetch_webhook()"
    hook = _from_url(_client(what), webhook_url, what)
    try:
        fetched = await hook.fetch(prefer_auth=False)
    except discord.HTTPException as exc:
        raise discord_error(what, exc, PERMISSION) from None
    return webhook_object(fetched)


async def webhook_delete(webhook_url: Any) -> None:
    """Delete the webhook behind a URL (the URL's token is enough)."""
    what = "webhook_delete()"
    hook = _from_url(_client(what), webhook_url, what)
    try:
        await hook.delete(prefer_auth=False)
    except discord.HTTPException as exc:
        raise discord_error(what, exc, PERMISSION) from None


async def webhook_edit(webhook_url: Any, options: Any) -> dict[str, Any]:
    """Change a webhook: ``{name, avatar_url, channel}`` (moving it to another channel of the
    server needs Manage Webhooks there); returns the webhook."""
    what = "webhook_edit()"
    client = _client(what)
    if not isinstance(options, dict) or not options:
        raise EzError(
            "TypeError",
            f"{what} needs options {{name, avatar_url, channel}}, not {to_repr(options)}",
        )
    unknown = sorted(set(options) - {"name", "avatar_url", "channel"})
    if unknown:
        raise EzError(
            "ValueError",
            f"{what}: unknown option(s) {', '.join(unknown)}; the options are name, avatar_url and channel",
        )
    kwargs: dict[str, Any] = {}
    if options.get("name") is not None:
        kwargs["name"] = _name(options["name"], what)
    if "avatar_url" in options:
        url = options["avatar_url"]
        kwargs["avatar"] = None if url is None else await _avatar_bytes(url, what)
    move = options.get("channel")
    if move is not None:
        kwargs["channel"] = discord.Object(convert.channel_id_of(move, what=f"{what} channel"))
    hook = _from_url(client, webhook_url, what, with_bot_token=move is not None)
    try:
        edited = await hook.edit(prefer_auth=move is not None, **kwargs)
    except discord.HTTPException as exc:
        raise discord_error(what, exc, PERMISSION) from None
    return webhook_object(edited)


async def webhook_send(webhook_url: Any, content: Any, options: Any = None) -> dict[str, Any]:
    """Post through a webhook: ``content`` as for ``send_message``; ``options``:
    ``{username, avatar_url, embeds, embed, allowed_mentions, poll}``. Returns the message."""
    what = "webhook_send()"
    client = _client(what)
    hook = _from_url(client, webhook_url, what)
    extra: dict[str, Any] = {}
    rest = options
    if isinstance(options, dict):
        extra = {k: options[k] for k in _SEND_KEYS if options.get(k) is not None}
        rest = {k: v for k, v in options.items() if k not in _SEND_KEYS} or None
    if extra.get("poll") is not None and content is None and rest is None:
        kwargs: dict[str, Any] = {}  # a poll alone is a message
    else:
        kwargs = _content_and_options(content, rest, what)
    if kwargs.pop("view", None) is not None:
        raise EzError(
            "ValueError",
            f"{what}: a webhook message can not carry buttons or menus; send them with send_message()",
        )
    for key in ("username", "avatar_url"):
        if key in extra:
            if not isinstance(extra[key], str):
                raise EzError(
                    "TypeError", f"{what}: {key} must be a string, not {to_repr(extra[key])}"
                )
            kwargs[key] = extra[key]
    if "allowed_mentions" in extra:
        kwargs["allowed_mentions"] = allowed_mentions(extra["allowed_mentions"], what)
    if "poll" in extra:
        from ezlang.discord.polls import to_discord  # noqa: PLC0415 - polls imports messages

        kwargs["poll"] = to_discord(extra["poll"], what)
    try:
        sent = await hook.send(wait=True, **kwargs)
    except discord.HTTPException as exc:
        raise discord_error(what, exc, PERMISSION) from None
    result = convert.message(sent)
    result["webhook_id"] = str(hook.id)
    return result


BUILTINS: dict[str, Callable[..., Any]] = {
    "create_webhook": create_webhook,
    "fetch_webhook": fetch_webhook,
    "fetch_webhooks": fetch_webhooks,
    "webhook_delete": webhook_delete,
    "webhook_edit": webhook_edit,
    "webhook_send": webhook_send,
}

for _name_, _fn in BUILTINS.items():
    register(_name_, _fn)
