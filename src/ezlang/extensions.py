"""Lazy registration of the Discord and sharding builtins (see ``ezlang.lang.registry``).

Each layer lists the builtin names it provides here; the module is imported the first time a
program calls one of them, so ``ezlang run`` of a program without Discord code never imports
discord.py. Each module named must call ``registry.register`` for every name listed.
"""

from __future__ import annotations

from ezlang.lang.registry import register_lazy

DISCORD_BUILTINS = (
    "bot_start",
    "bot_stop",
    "on_ready",
    "on_message",
    "listen",
    "send_message",
    "reply",
    "react",
    "set_status",
    "set_activity",
    "set_intents",
    "create_message_collector",
    "create_reaction_collector",
    "create_interaction_collector",
    "on_collect",
    "on_collector_end",
    "stop_collector",
    "wait_for_message",
    "wait_for_reaction",
    "get_client",
    "get_shard_info",
)

#: Interactions, components and embeds (``ezlang.discord.interactions`` registers them all).
INTERACTION_BUILTINS = (
    "slash_command",
    "user_command",
    "message_command",
    "on_autocomplete",
    "register_slash_command",
    "register_command",
    "register_user_context_menu",
    "register_message_context_menu",
    "set_commands_guild",
    "interaction_reply",
    "interaction_defer",
    "interaction_followup",
    "interaction_edit",
    "interaction_delete",
    "interaction_update",
    "show_modal",
    "get_modal_field",
    "get_modal_field_value",
    "reply_interaction",
    "on_button",
    "on_select",
    "on_modal",
    "wait_for_component",
    "set_interaction_error_message",
    "create_button",
    "create_link_button",
    "create_string_select",
    "create_user_select",
    "create_role_select",
    "create_channel_select",
    "create_mentionable_select",
    "create_action_row",
    "create_text_input",
    "create_modal",
    "add_modal_text_input",
    "create_embed",
    "embed_add_field",
    "embed_set_footer",
    "embed_set_author",
    "embed_set_image",
    "embed_set_thumbnail",
    "embed_set_timestamp",
    "embed_set_url",
    "embed_set_color",
    "embed_set_title",
    "embed_set_description",
)

SHARDING_BUILTINS = (
    "create_shard_manager",
    "spawn_shards",
    "broadcast_eval",
    "fetch_client_values",
    "respawn_shard",
    "get_shard_stats",
    "stop_shards",
    "restart_shards",
)

MESSAGING_BUILTINS = (
    "send_to_shard",
    "send_to_all_shards",
    "on_shard_message",
    "shard_for_guild",
    "eval_on_guild_shard",
)

DB_BUILTINS = ("db_get", "db_set", "db_delete", "db_has", "db_keys", "db_incr")

FILES_BUILTINS = (
    "fs_read_file",
    "fs_write_file",
    "fs_exists",
    "fs_is_file",
    "fs_is_dir",
    "fs_read_dir",
    "path_join",
)

PYTHON_BUILTINS = ("import_python",)

TASK_BUILTINS = (
    "create_loop",
    "create_scheduled_task",
    "start_task",
    "stop_task",
    "is_task_running",
    "list_tasks",
    "get_task_info",
    "delete_task",
)

COOLDOWN_BUILTINS = (
    "add_cooldown",
    "is_on_cooldown",
    "get_cooldown_remaining",
    "reset_cooldown",
    "reset_all_cooldowns",
    "clear_all_cooldowns",
    "get_user_cooldowns",
    "get_cooldown_stats",
)


MESSAGE_BUILTINS = (
    "edit_message",
    "delete_message",
    "fetch_message",
    "fetch_messages",
    "pin_message",
    "unpin_message",
    "fetch_pinned_messages",
    "bulk_delete",
    "add_reaction",
    "remove_reaction",
    "clear_reactions",
    "fetch_reactions",
    "send_dm",
    "create_dm_channel",
)

LOOKUP_BUILTINS = (
    "get_guild",
    "get_channel",
    "get_user",
    "get_role",
    "fetch_member",
    "list_guilds",
)

#: Editing the server itself (``ezlang.discord.guild_edit``).
GUILD_EDIT_BUILTINS = ("edit_guild",)

#: Roles and members (``ezlang.discord.members``).
MEMBER_BUILTINS = (
    "create_role",
    "create_role_with_icon",
    "edit_role",
    "delete_role",
    "reorder_roles",
    "set_role_position",
    "add_role_to_member",
    "remove_role_from_member",
    "set_nickname",
    "reset_nickname",
    "get_role_members",
)

#: Moderation (``ezlang.discord.moderation``).
MODERATION_BUILTINS = (
    "kick_member",
    "ban_member",
    "unban_user",
    "unban_member",
    "fetch_bans",
    "get_bans",
    "fetch_ban",
    "get_ban",
    "timeout_member",
    "remove_timeout",
    "bulk_ban_members",
)

#: Permissions and channel overwrites (``ezlang.discord.permissions``).
PERMISSION_BUILTINS = (
    "has_permission",
    "has_permissions",
    "calculate_permissions",
    "get_channel_permissions",
    "create_permission_bitfield",
    "add_permissions",
    "remove_permissions",
    "create_permission_overwrite",
    "delete_permission_overwrite",
    "get_permission_overwrites",
)

#: Command checks (``ezlang.discord.checks``).
CHECK_BUILTINS = (
    "require_permission",
    "require_role",
    "guild_only",
    "owner_only",
    "apply_checks",
    "get_command_checks",
    "register_command_check",
    "run_checks",
)

WEBHOOK_BUILTINS = (
    "create_webhook",
    "fetch_webhook",
    "fetch_webhooks",
    "webhook_delete",
    "webhook_edit",
    "webhook_send",
)

INVITE_BUILTINS = (
    "create_invite",
    "fetch_invites",
    "get_guild_invites",
    "get_channel_invites",
    "get_invite",
    "delete_invite",
)

POLL_BUILTINS = (
    "create_poll",
    "create_multi_select_poll",
    "send_poll",
    "end_poll",
    "fetch_poll_results",
    "get_poll_results",
    "fetch_poll_voters",
    "get_poll_voters",
)

#: The audit log (``ezlang.discord.audit_logs``).
AUDIT_LOG_BUILTINS = ("fetch_audit_logs", "get_audit_logs_filtered", "get_audit_log_entry")

#: Channels and threads (``ezlang.discord.channels`` and ``ezlang.discord.threads``).
#: The older EasyLang's intent builtins (``ezlang.discord.intents``).
INTENT_BUILTINS = (
    "add_intent",
    "remove_intent",
    "configure_intents",
    "configure_all_intents",
    "reset_intents",
    "get_intents",
    "has_intent",
    "list_all_intents",
)
CHANNEL_BUILTINS = ("create_channel", "edit_channel", "delete_channel")
THREAD_BUILTINS = (
    "create_thread",
    "create_thread_from_message",
    "join_thread",
    "leave_thread",
    "archive_thread",
    "unarchive_thread",
    "lock_thread",
    "unlock_thread",
    "add_thread_member",
    "remove_thread_member",
    "get_thread_members",
)


def install() -> None:
    """Declare every extension builtin (idempotent)."""
    register_lazy(DISCORD_BUILTINS, "ezlang.discord.builtins")
    register_lazy(INTERACTION_BUILTINS, "ezlang.discord.interactions")
    register_lazy(MESSAGE_BUILTINS, "ezlang.discord.messages")
    register_lazy(LOOKUP_BUILTINS, "ezlang.discord.lookups")
    register_lazy(MEMBER_BUILTINS, "ezlang.discord.members")
    register_lazy(GUILD_EDIT_BUILTINS, "ezlang.discord.guild_edit")
    register_lazy(MODERATION_BUILTINS, "ezlang.discord.moderation")
    register_lazy(PERMISSION_BUILTINS, "ezlang.discord.permissions")
    register_lazy(CHECK_BUILTINS, "ezlang.discord.checks")
    register_lazy(WEBHOOK_BUILTINS, "ezlang.discord.webhooks")
    register_lazy(INVITE_BUILTINS, "ezlang.discord.invites")
    register_lazy(POLL_BUILTINS, "ezlang.discord.polls")
    register_lazy(AUDIT_LOG_BUILTINS, "ezlang.discord.audit_logs")
    register_lazy(CHANNEL_BUILTINS, "ezlang.discord.channels")
    register_lazy(INTENT_BUILTINS, "ezlang.discord.intents")
    register_lazy(THREAD_BUILTINS, "ezlang.discord.threads")
    register_lazy(SHARDING_BUILTINS, "ezlang.sharding.builtins")
    register_lazy(MESSAGING_BUILTINS, "ezlang.sharding.messaging")
    register_lazy(DB_BUILTINS, "ezlang.toolkit.db.builtins")
    register_lazy(FILES_BUILTINS, "ezlang.toolkit.files")
    register_lazy(PYTHON_BUILTINS, "ezlang.toolkit.pymodules")
    register_lazy(TASK_BUILTINS, "ezlang.toolkit.tasks")
    register_lazy(COOLDOWN_BUILTINS, "ezlang.toolkit.cooldowns")
