"""Who is in which voice channel, per guild: the voice states of the server model.

A member joins, moves or leaves voice through the control API (``POST {control}/voice``).
The state is kept in the guild's :class:`~ezlang.sandbox.guild_state.GuildState`, so a bot
that connects later finds it in GUILD_CREATE's ``voice_states`` (sessions with the
GUILD_VOICE_STATES intent only, as Discord sends it). Discord disconnects a user from voice
when they leave the guild, are kicked or banned, or their voice channel is deleted: each
sends VOICE_STATE_UPDATE with ``channel_id: null``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .guild_state import GuildState, ServerModel

INTENT_GUILD_VOICE_STATES = 1 << 7


class VoiceStates:
    """The voice side of :class:`~ezlang.sandbox.guild_state.ServerModel`."""

    def __init__(self, model: ServerModel) -> None:
        self.model = model

    @staticmethod
    def of_guild(state: GuildState) -> list[dict[str, Any]]:
        """GUILD_CREATE's ``voice_states``: partial voice states (no ``guild_id``, no
        ``member``: the members are in the guild's ``members``)."""
        return [dict(v) for v in state.voice.values()]

    def set(self, guild_id: int, user_id: int, channel_id: int | None) -> dict[str, Any]:
        """A member joins or moves to ``channel_id``, or leaves voice (None):
        VOICE_STATE_UPDATE. Returns the event's payload and whom it reached. ValueError if
        the user leaves while in no voice channel."""
        state = self.model.edit(guild_id)
        old = state.voice.get(user_id)
        if old is None and channel_id is None:
            raise ValueError(f"user {user_id} is in no voice channel of guild {guild_id}")
        if channel_id is None:
            return self._leave(state, user_id)
        voice = {
            "channel_id": str(channel_id),
            "user_id": str(user_id),
            "session_id": old["session_id"] if old else f"voice-{guild_id}-{user_id}",
            "deaf": False,
            "mute": False,
            "self_deaf": False,
            "self_mute": False,
            "self_video": False,
            "suppress": False,
            "request_to_speak_timestamp": None,
        }
        state.voice[user_id] = voice
        return self._dispatch(state, user_id, voice)

    def _leave(self, state: GuildState, user_id: int) -> dict[str, Any]:
        voice = dict(state.voice.pop(user_id))
        voice["channel_id"] = None
        return self._dispatch(state, user_id, voice)

    def _dispatch(self, state: GuildState, user_id: int, voice: dict[str, Any]) -> dict[str, Any]:
        payload = {"guild_id": str(state.guild_id), **voice}
        member = self.model.member_json(state, user_id)
        if member is not None:  # None: the user was just removed from the guild
            payload["member"] = member
        sent = self.model.sb.gateway.dispatch_guild_event(
            state.guild_id, "VOICE_STATE_UPDATE", payload, INTENT_GUILD_VOICE_STATES
        )
        return {**sent, "voice_state": payload}

    def drop_member(self, state: GuildState, user_id: int) -> None:
        """The user left the guild (or was kicked or banned): out of voice too."""
        if user_id in state.voice:
            self._leave(state, user_id)

    def drop_channel(self, state: GuildState, channel_id: int) -> None:
        """A voice channel is deleted: everyone in it is disconnected."""
        cid = str(channel_id)
        for uid in [u for u, v in state.voice.items() if v["channel_id"] == cid]:
            self._leave(state, uid)
