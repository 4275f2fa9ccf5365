"""Gateway protocol constants: opcodes, close codes, intents, limits and canned payloads.

Shared by the wire level (:mod:`.gateway_wire`), the session model
(:mod:`.gateway_session`) and the gateway server (:mod:`.gateway`).
"""

from __future__ import annotations

# Opcodes (https://discord.com/developers/docs/topics/opcodes-and-status-codes)
OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_PRESENCE_UPDATE = 3
OP_VOICE_STATE_UPDATE = 4
OP_RESUME = 6
OP_RECONNECT = 7
OP_REQUEST_GUILD_MEMBERS = 8
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11
OP_REQUEST_SOUNDBOARD_SOUNDS = 31

# Close codes
CLOSE_UNKNOWN_ERROR = 4000
CLOSE_UNKNOWN_OPCODE = 4001
CLOSE_DECODE_ERROR = 4002
CLOSE_NOT_AUTHENTICATED = 4003
CLOSE_AUTHENTICATION_FAILED = 4004
CLOSE_ALREADY_AUTHENTICATED = 4005
CLOSE_INVALID_SEQ = 4007
CLOSE_RATE_LIMITED = 4008
CLOSE_SESSION_TIMED_OUT = 4009
CLOSE_INVALID_SHARD = 4010
CLOSE_SHARDING_REQUIRED = 4011
CLOSE_INVALID_API_VERSION = 4012
CLOSE_INVALID_INTENTS = 4013
CLOSE_DISALLOWED_INTENTS = 4014

CLOSE_REASONS = {
    CLOSE_UNKNOWN_ERROR: "Unknown error.",
    CLOSE_UNKNOWN_OPCODE: "Unknown opcode.",
    CLOSE_DECODE_ERROR: "Error while decoding payload.",
    CLOSE_NOT_AUTHENTICATED: "Not authenticated.",
    CLOSE_AUTHENTICATION_FAILED: "Authentication failed.",
    CLOSE_ALREADY_AUTHENTICATED: "Already authenticated.",
    CLOSE_INVALID_SEQ: "Invalid seq.",
    CLOSE_RATE_LIMITED: "Rate limited.",
    CLOSE_SESSION_TIMED_OUT: "Session timed out.",
    CLOSE_INVALID_SHARD: "Invalid shard.",
    CLOSE_SHARDING_REQUIRED: "Sharding required.",
    CLOSE_INVALID_API_VERSION: "Invalid API version.",
    CLOSE_INVALID_INTENTS: "Invalid intent(s).",
    CLOSE_DISALLOWED_INTENTS: "Disallowed intent(s).",
}

# Closing with one of these ends the session: it can not be resumed afterwards.
SESSION_ENDING_CLOSES = frozenset(
    {
        CLOSE_AUTHENTICATION_FAILED,
        CLOSE_INVALID_SEQ,
        CLOSE_SESSION_TIMED_OUT,
        CLOSE_INVALID_SHARD,
        CLOSE_SHARDING_REQUIRED,
        CLOSE_INVALID_API_VERSION,
        CLOSE_INVALID_INTENTS,
        CLOSE_DISALLOWED_INTENTS,
    }
)

# Intents: every defined bit, and the privileged ones (GUILD_MEMBERS, GUILD_PRESENCES,
# MESSAGE_CONTENT).
INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_VOICE_STATES = 1 << 7
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_MESSAGE_CONTENT = 1 << 15
INTENT_GUILD_MESSAGE_REACTIONS = 1 << 10
VALID_INTENTS = sum(1 << b for b in (*range(0, 17), 20, 21, 24, 25))
PRIVILEGED_INTENTS = INTENT_GUILD_MEMBERS | INTENT_GUILD_PRESENCES | INTENT_MESSAGE_CONTENT

MAX_GUILDS_PER_SHARD = 2500
# Discord refuses client payloads over 4096 bytes (close 4002).
MAX_PAYLOAD = 4096
# Discord closes a connection that sends more than 120 payloads per 60 s.
SEND_LIMIT = 120
SEND_LIMIT_WINDOW = 60.0

# Canned server payloads (HELLO takes the heartbeat interval in ms).
HELLO_TEMPLATE = '{"op":10,"s":null,"t":null,"d":{"heartbeat_interval":%d,"_trace":["sandbox"]}}'
HEARTBEAT_ACK = '{"op":11,"s":null,"t":null,"d":null}'
RECONNECT = '{"op":7,"s":null,"t":null,"d":null}'
INVALID_SESSION = '{"op":9,"s":null,"t":null,"d":false}'
INVALID_SESSION_RESUMABLE = '{"op":9,"s":null,"t":null,"d":true}'
HEARTBEAT_REQUEST = '{"op":1,"s":null,"t":null,"d":null}'


def frame(seq: int, event: str, data_json: str) -> str:
    """A dispatch frame; ``data_json`` is already JSON (so cached payloads are not re-encoded)."""
    return f'{{"op":0,"s":{seq},"t":"{event}","d":{data_json}}}'
