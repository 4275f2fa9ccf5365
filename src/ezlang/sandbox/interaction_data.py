"""What goes into an INTERACTION_CREATE's ``data``: commands and their options, component
clicks and modal submits, with the ``resolved`` users, members, roles, channels,
attachments and messages — and the checks a Discord client makes before it sends one (an
unknown option, a value out of bounds, a disabled button, a modal never shown).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from . import commands as C
from .components import (
    BUTTON,
    LINK_STYLE,
    SELECTS,
    STRING_SELECT,
    TEXT_INPUT,
    find_component,
    iter_components,
)

if TYPE_CHECKING:
    from .core import Sandbox
    from .interactions import Interaction
    from .world import World

USER_OPT, CHANNEL_OPT, ROLE_OPT, MENTIONABLE_OPT, ATTACHMENT_OPT = 6, 7, 8, 9, 11
_OPT_NAMES = {
    USER_OPT: "user",
    CHANNEL_OPT: "channel",
    ROLE_OPT: "role",
    MENTIONABLE_OPT: "user or role",
}


def _error(message: str) -> Exception:
    from .core import SandboxError

    return SandboxError(message)


def _snowflake(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise _error(f"{name} must be a snowflake, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _error(f"{name} must be a snowflake, got {value!r}") from None


def _interactive(components: Any) -> list[dict[str, Any]]:
    return [c for c in iter_components(components) if c.get("custom_id")]


class InteractionData:
    """Builds interaction ``data`` for :class:`~.interactions.InteractionStore`."""

    sb: Sandbox
    world: World
    modals: OrderedDict[tuple[str, str], tuple[dict[str, Any], Interaction]]

    def find_message(self, channel_id: int, message_id: str) -> dict[str, Any] | None:
        raise NotImplementedError

    # ---- payload pieces ----------------------------------------------------------------

    def _perms(self, guild_index: int, user_id: int, channel_id: int | None = None) -> int:
        """A member's permissions as the server model computes them (owner, roles,
        administrator, timeout), in ``channel_id`` with its overwrites when given: what
        Discord sends as ``member.permissions`` and ``app_permissions``."""
        state = self.sb.server.view(self.world.guild_id(guild_index))
        if state is None:
            return 0
        if channel_id is None:
            return state.permissions_of(user_id)
        return state.channel_permissions_of(user_id, channel_id)

    def _resolve_user(
        self, resolved: dict[str, dict[str, Any]], guild_index: int | None, uid: int
    ) -> bool:
        user = self.world.user(uid)
        if user is None:
            return False
        resolved.setdefault("users", {})[str(uid)] = user
        if guild_index is not None:
            member = self.world.member(guild_index, uid)
            if member is not None:
                m = {k: v for k, v in member.items() if k != "user"}
                m["permissions"] = str(self._perms(guild_index, uid))
                resolved.setdefault("members", {})[str(uid)] = m
        return True

    def _resolve_role(
        self, resolved: dict[str, dict[str, Any]], guild_index: int | None, rid: int
    ) -> bool:
        if guild_index is None:
            return False
        for role in self.world.roles(guild_index):
            if role["id"] == str(rid):
                resolved.setdefault("roles", {})[str(rid)] = role
                return True
        return False

    def _resolve_channel(
        self,
        resolved: dict[str, dict[str, Any]],
        guild_index: int | None,
        cid: int,
        types: list[int] | None = None,
    ) -> bool:
        if guild_index is None:
            return False
        channel = self.world.channel_object(cid)
        if channel is None or channel.get("guild_id") != str(self.world.guild_id(guild_index)):
            return False
        if types and channel["type"] not in types:
            return False
        resolved.setdefault("channels", {})[str(cid)] = {
            **{
                k: channel[k]
                for k in ("id", "name", "type", "parent_id", "guild_id")
                if k in channel
            },
            "permissions": "1071698660929",
            "flags": 0,
        }
        return True

    def _command_data(
        self,
        body: dict[str, Any],
        kind: str,
        ctype: int,
        guild_id: int | None,
        guild_index: int | None,
        channel_id: int,
        resolved: dict[str, dict[str, Any]],
    ) -> tuple[dict[str, Any], str]:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _error(f"name is required for kind {kind!r} (the command's name)")
        # A slash command's name may carry its subcommand path ("poll create"); a context
        # menu's name is one name that may hold spaces ("User Info").
        parts = name.split() if ctype == C.CHAT_INPUT else [name]
        cmd = self.sb.app_commands.lookup(guild_id, parts[0], ctype)
        where = f"guild {guild_id}" if guild_id is not None else "DMs"
        if cmd is None:
            raise _error(
                f"no {kind.replace('_', ' ')} named {parts[0]!r} is registered for {where}"
            )
        if guild_id is None and cmd.get("dm_permission") is False:
            raise _error(f"/{parts[0]} is not available in DMs (dm_permission false)")
        data: dict[str, Any] = {"id": cmd["id"], "name": cmd["name"], "type": ctype}
        if "guild_id" in cmd:
            data["guild_id"] = cmd["guild_id"]
        if ctype != C.CHAT_INPUT:
            if len(parts) > 1 or body.get("options"):
                raise _error("context-menu commands take no subcommand or options")
            target = body.get("target_id")
            if target is None:
                raise _error(f"target_id is required for kind {kind!r}")
            tid = _snowflake(target, "target_id")
            if ctype == C.USER:
                if not self._resolve_user(resolved, guild_index, tid):
                    raise _error(f"unknown user {target}")
            else:
                msg = self.find_message(channel_id, str(tid))
                if msg is None:
                    raise _error(f"unknown message {target} in channel {channel_id}")
                resolved["messages"] = {str(tid): msg}
            data["target_id"] = str(tid)
            return data, name
        level: list[dict[str, Any]] = cmd.get("options") or []
        path: list[dict[str, Any]] = []
        for part in parts[1:]:
            sub = next((o for o in level if o["name"] == part and o["type"] in (1, 2)), None)
            if sub is None:
                raise _error(f"/{' '.join(parts[: len(path) + 1])} has no subcommand {part!r}")
            path.append(sub)
            level = sub.get("options") or []
        subs = [o["name"] for o in level if o["type"] in (1, 2)]
        if subs:
            raise _error(f"/{name} needs a subcommand: one of {', '.join(subs)}")
        given = body.get("options") or {}
        if not isinstance(given, dict):
            raise _error('options must be an object {"option name": value}')
        focused = body.get("focused")
        if kind == "autocomplete":
            if focused is None and given:
                focused = list(given)[-1]
            opt = next((o for o in level if o["name"] == focused), None)
            if opt is None or not opt.get("autocomplete"):
                raise _error(f"/{name} has no autocomplete option {focused!r}")
        values: list[dict[str, Any]] = []
        for key, value in given.items():
            opt = next((o for o in level if o["name"] == key), None)
            if opt is None:
                known = ", ".join(o["name"] for o in level) or "none"
                raise _error(f"/{name} has no option {key!r} (options: {known})")
            if key == focused:
                # What the user is typing: sent as is, not checked against the type.
                values.append(
                    {"name": key, "type": opt["type"], "value": str(value), "focused": True}
                )
                continue
            values.append({"name": key, "type": opt["type"],
                           "value": self._option_value(opt, value, name, guild_index, resolved)})  # fmt: skip
        if kind != "autocomplete":
            missing = [o["name"] for o in level if o.get("required") and o["name"] not in given]
            if missing:
                raise _error(f"/{name} needs the option(s) {', '.join(missing)}")
        for sub in reversed(path):
            values = [{"name": sub["name"], "type": sub["type"], "options": values}]
        data["options"] = values
        return data, name

    def _option_value(
        self,
        opt: dict[str, Any],
        value: Any,
        command: str,
        guild_index: int | None,
        resolved: dict[str, dict[str, Any]],
    ) -> Any:
        otype, oname = opt["type"], opt["name"]
        bad = _error(f"option {oname!r} of /{command} can not take {value!r}")
        if otype == C.STRING:
            if not isinstance(value, str):
                raise bad
            if not opt.get("min_length", 0) <= len(value) <= opt.get("max_length", 6000):
                raise _error(f"option {oname!r} of /{command}: length out of its bounds")
        elif otype == C.INTEGER:
            if not C._is_int(value):
                raise bad
        elif otype == C.NUMBER:
            if not C._is_number(value):
                raise bad
        elif otype == C.BOOLEAN:
            if not isinstance(value, bool):
                raise bad
        elif otype in (USER_OPT, CHANNEL_OPT, ROLE_OPT, MENTIONABLE_OPT):
            sid = _snowflake(value, oname)
            ok = (
                otype in (USER_OPT, MENTIONABLE_OPT)
                and self._resolve_user(resolved, guild_index, sid)
                or otype in (ROLE_OPT, MENTIONABLE_OPT)
                and self._resolve_role(resolved, guild_index, sid)
                or otype == CHANNEL_OPT
                and self._resolve_channel(resolved, guild_index, sid, opt.get("channel_types"))
            )
            if not ok:
                raise _error(f"option {oname!r} of /{command}: no such {_OPT_NAMES[otype]} {value}")
            return str(sid)
        elif otype == ATTACHMENT_OPT:
            spec = {"filename": value} if isinstance(value, str) else value
            if not isinstance(spec, dict) or not isinstance(spec.get("filename"), str):
                raise _error(
                    f"option {oname!r} of /{command}: an attachment is a filename or {{filename, size, content_type}}"
                )
            aid = str(self.sb.gateway.next_snowflake())
            url = f"{self.sb.api_url}/attachments/{aid}/{spec['filename']}"
            resolved.setdefault("attachments", {})[aid] = {
                "id": aid, "filename": spec["filename"], "size": int(spec.get("size", 0)),
                "content_type": spec.get("content_type"), "url": url, "proxy_url": url,
                "ephemeral": True,
            }  # fmt: skip
            return aid
        if otype in C.CHOICE_TYPES:
            choices = opt.get("choices")
            if choices and value not in [c["value"] for c in choices]:
                raise _error(f"option {oname!r} of /{command}: {value!r} is not one of its choices")
            if otype != C.STRING:
                low, high = opt.get("min_value"), opt.get("max_value")
                if low is not None and value < low or high is not None and value > high:
                    raise _error(f"option {oname!r} of /{command}: {value} out of its bounds")
        return value

    def _component_data(
        self,
        body: dict[str, Any],
        channel_id: int,
        guild_id: int | None,
        guild_index: int | None,
        resolved: dict[str, dict[str, Any]],
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        mid, custom_id = body.get("message_id"), body.get("custom_id")
        if mid is None or not isinstance(custom_id, str):
            raise _error("message_id and custom_id are required for kind 'component'")
        msg = self.find_message(channel_id, str(mid))
        if msg is None:
            raise _error(f"unknown message {mid} in channel {channel_id}")
        if msg["author"]["id"] != str(self.world.bot_id):
            raise _error(
                f"message {mid} was not sent by the bot: a user can only click the bot's components"
            )
        comp = find_component(msg.get("components"), custom_id)
        if comp is None or comp.get("type") not in (BUTTON, *SELECTS):
            ids = [c.get("custom_id") for c in _interactive(msg.get("components"))]
            raise _error(
                f"message {mid} has no component with custom_id {custom_id!r} (it has {ids})"
            )
        if comp.get("disabled"):
            raise _error(f"the component {custom_id!r} of message {mid} is disabled")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": comp["type"]}
        values = body.get("values")
        if comp["type"] == BUTTON:
            if comp.get("style") == LINK_STYLE:
                raise _error(
                    f"{custom_id!r} is a link button: it opens a URL and sends no interaction"
                )
            if values is not None:
                raise _error(f"{custom_id!r} is a button: it takes no values")
            return data, msg
        if not isinstance(values, list) or not all(isinstance(v, str | int) for v in values):
            raise _error(f"{custom_id!r} is a select menu: values (a list) is required")
        values = [str(v) for v in values]
        low, high = comp.get("min_values", 1), comp.get("max_values", 1)
        if not low <= len(values) <= high:
            raise _error(f"select {custom_id!r} takes {low} to {high} value(s), got {len(values)}")
        if comp["type"] == STRING_SELECT:
            allowed = [o["value"] for o in comp.get("options", [])]
            wrong = [v for v in values if v not in allowed]
            if wrong:
                raise _error(f"select {custom_id!r} has no option(s) {wrong} (options: {allowed})")
        else:
            kinds = {5: (USER_OPT,), 6: (ROLE_OPT,), 7: (USER_OPT, ROLE_OPT), 8: (CHANNEL_OPT,)}[
                comp["type"]
            ]
            for v in values:
                sid = _snowflake(v, "value")
                ok = (
                    USER_OPT in kinds
                    and self._resolve_user(resolved, guild_index, sid)
                    or ROLE_OPT in kinds
                    and self._resolve_role(resolved, guild_index, sid)
                    or CHANNEL_OPT in kinds
                    and self._resolve_channel(resolved, guild_index, sid, comp.get("channel_types"))
                )
                if not ok:
                    raise _error(f"select {custom_id!r}: {v} is not a valid choice for it")
        data["values"] = values
        return data, msg

    def _modal_data(
        self, body: dict[str, Any], user: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        custom_id = body.get("custom_id")
        if not isinstance(custom_id, str):
            raise _error("custom_id is required for kind 'modal' (the modal's custom_id)")
        shown = self.modals.pop((user["id"], custom_id), None)
        if shown is None:
            raise _error(
                f"the bot has not shown user {user['id']} a modal with custom_id {custom_id!r}"
            )
        modal, origin = shown
        fields = body.get("fields") or {}
        if not isinstance(fields, dict):
            self.modals[(user["id"], custom_id)] = shown
            raise _error('fields must be an object {"input custom_id": value}')
        try:
            components = self._modal_components(modal, fields, custom_id)
        except Exception:
            self.modals[(user["id"], custom_id)] = shown  # a refused submit may be retried
            raise
        return {"custom_id": custom_id, "components": components}, origin.source_message

    def _modal_components(
        self, modal: dict[str, Any], fields: dict[str, Any], custom_id: str
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        known: set[str] = set()
        for row in modal.get("components", []):
            if row.get("type") == 1:
                comp = row["components"][0]
            elif row.get("type") == 18:
                comp = row["component"]
            else:
                continue
            cid = comp.get("custom_id")
            known.add(cid)
            if comp.get("type") == TEXT_INPUT:
                value = fields.get(cid, comp.get("value") or "")
                if not isinstance(value, str):
                    raise _error(f"modal {custom_id!r}: field {cid!r} takes text")
                if comp.get("required", True) and not value:
                    raise _error(f"modal {custom_id!r}: field {cid!r} is required")
                if value and not comp.get("min_length", 0) <= len(value) <= comp.get(
                    "max_length", 4000
                ):
                    raise _error(f"modal {custom_id!r}: field {cid!r} length out of its bounds")
                inner: dict[str, Any] = {"type": TEXT_INPUT, "custom_id": cid, "value": value}
            else:
                values = fields.get(cid, [])
                if not isinstance(values, list):
                    raise _error(f"modal {custom_id!r}: field {cid!r} takes a list of values")
                inner = {
                    "type": comp.get("type"),
                    "custom_id": cid,
                    "values": [str(v) for v in values],
                }
            if "id" in comp:
                inner["id"] = comp["id"]
            if row.get("type") == 1:
                out.append({"type": 1, "components": [inner]})
            else:
                out.append(
                    {"type": 18, **({"id": row["id"]} if "id" in row else {}), "component": inner}
                )
        unknown = sorted(set(fields) - known)
        if unknown:
            raise _error(f"modal {custom_id!r} has no input(s) {unknown} (inputs: {sorted(known)})")
        return out
