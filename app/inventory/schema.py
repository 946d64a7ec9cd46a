"""The inventory contract as data: kinds, fields, types and closed enumerations.

docs/inventory-format.md is the prose version of the same contract.
"""

from __future__ import annotations

from dataclasses import dataclass

ENVIRONMENTS = ("production", "staging", "development")
AGENT_STATUSES = ("active", "suspended", "retired")
AUTONOMY_LEVELS = ("autonomous", "supervised", "assistive")
IDENTITY_KINDS = ("workload", "service_account", "user_delegated", "api_key", "none")
TRANSPORTS = ("stdio", "sse", "http")
# unknown: a discovered remote server whose client config carries no authentication (it may still do OAuth).
SERVER_AUTH_MODES = ("none", "static_token", "oauth2", "mtls", "workload", "unknown")
SENSITIVITIES = ("low", "medium", "high", "critical")
ANNOTATION_HINTS = ("readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint")
CREDENTIAL_KINDS = (
    "static_token",
    "api_key",
    "client_secret",
    "password",
    "certificate",
    "oauth_refresh",
    "jit_token",
    "workload_svid",
)
CREDENTIAL_STORAGES = ("vault", "kms", "env_reference", "env_file", "plaintext_config", "unknown")
POLICY_ENGINES = ("opa", "cedar", "cel", "gateway", "manual")
POLICY_EVALUATIONS = ("runtime", "static")
POLICY_EFFECTS = ("allow", "deny")

KINDS = ("agents", "mcp_servers", "credentials", "policies", "approvals")


@dataclass(frozen=True)
class FieldSpec:
    """One field of an entry: its type, whether it is required, and its allowed values.

    type is one of: str, bool, int, nonneg_int, date, enum, str_list, object, tool_list, annotations,
    secret, json_object (any JSON mapping, e.g. a tool's input schema), str_seq (a str_list that may repeat).
    """

    name: str
    type: str
    required: bool = False
    choices: tuple[str, ...] = ()
    default: object = None
    fields: tuple[FieldSpec, ...] = ()


def f(name, type_="str", **kw) -> FieldSpec:
    """Shorthand for a FieldSpec."""
    return FieldSpec(name, type_, **kw)


AGENT_FIELDS = (
    f("id", required=True),
    f("name"),
    f("owner"),
    f("team"),
    f("environment", "enum", required=True, choices=ENVIRONMENTS),
    f("status", "enum", choices=AGENT_STATUSES, default="active"),
    f("autonomy", "enum", choices=AUTONOMY_LEVELS, default="supervised"),
    f("purpose"),
    f(
        "identity",
        "object",
        required=True,
        fields=(
            f("kind", "enum", required=True, choices=IDENTITY_KINDS),
            f("id"),
            f("attested", "bool", default=False),
        ),
    ),
    f("tools", "str_list"),
    f("credentials", "str_list"),
    f("network_reach", "str_list"),
    f("delegates_to", "str_list"),
    # MCP servers configured in the agent's client (discovered from its config), whose tools may be unknown.
    f("mcp_servers", "str_list"),
    f("max_delegation_depth", "nonneg_int"),
    f("created_at", "date"),
    f("last_reviewed_at", "date"),
    f("review_interval_days", "nonneg_int", default=90),
)

TOOL_FIELDS = (
    f("name", required=True),
    f("title"),
    f("description"),
    f("sensitivity", "enum", choices=SENSITIVITIES, default="medium"),
    f("annotations", "annotations"),
    f("data_classes", "str_list"),
    f("input_schema", "json_object"),
    f("output_schema", "json_object"),
    # The client runs this tool without asking a human (autoApprove, alwaysAllow).
    f("auto_approved", "bool", default=False),
    # The definition hash a person reviewed, and when; a different current hash means the tool changed.
    f("reviewed_definition_hash"),
    f("definition_reviewed_at", "date"),
)

SERVER_FIELDS = (
    f("id", required=True),
    f("name"),
    f("owner"),
    f("transport", "enum", required=True, choices=TRANSPORTS),
    f("url"),
    f("command"),
    # Command-line arguments repeat (-e A -e B), so unlike other lists they may hold a value twice.
    f("args", "str_seq"),
    f("package"),
    f("version"),
    f("auth", "enum", choices=SERVER_AUTH_MODES),
    f("audience_validated", "bool", default=False),
    f("token_passthrough", "bool", default=False),
    f("gateway"),
    f("source"),
    # Where discovery found it: the MCP client and the configuration scope (user, project, local, ...).
    f("client"),
    f("scope"),
    # A local command that bridges to the remote url (e.g. mcp-remote).
    f("bridge"),
    f("enabled", "bool", default=True),
    # The client runs every tool of this server without asking a human (e.g. Gemini CLI trust: true).
    f("auto_approve_all", "bool", default=False),
    f("tools", "tool_list"),
)

CREDENTIAL_FIELDS = (
    f("id", required=True),
    f("kind", "enum", required=True, choices=CREDENTIAL_KINDS),
    f("issuer"),
    f("audience"),
    f("scopes", "str_list"),
    f("ttl_seconds", "nonneg_int"),
    f("expires_at", "date"),
    f("last_rotated_at", "date"),
    f("revoked_at", "date"),
    f("rotation_interval_days", "nonneg_int", default=90),
    f("storage", "enum", choices=CREDENTIAL_STORAGES, default="unknown"),
    f("fingerprint"),
    # A secret value is accepted only to be fingerprinted and dropped; it is never stored.
    f("value", "secret"),
)

POLICY_FIELDS = (
    f("id", required=True),
    f("description"),
    f("owner"),
    f("engine", "enum", choices=POLICY_ENGINES),
    f("evaluation", "enum", required=True, choices=POLICY_EVALUATIONS),
    f("effect", "enum", required=True, choices=POLICY_EFFECTS),
    f("subjects", "str_list", required=True),
    f("tools", "str_list", required=True),
    f("require_approval", "bool", default=False),
    f("approvers", "str_list"),
    f("intents", "str_list"),
    f("max_chain_depth", "nonneg_int"),
    f("jit_credential_ttl_seconds", "nonneg_int"),
    f("rate_limit_per_minute", "nonneg_int"),
    f("last_reviewed_at", "date"),
    f("review_interval_days", "nonneg_int", default=180),
)

APPROVAL_FIELDS = (
    f("id", required=True),
    f("agent", required=True),
    f("tool", required=True),
    f("task"),
    f("approved_by"),
    f("approved_at", "date"),
    f("expires_at", "date"),
    f("credential_issued"),
)

FIELDS_BY_KIND = {
    "agents": AGENT_FIELDS,
    "mcp_servers": SERVER_FIELDS,
    "credentials": CREDENTIAL_FIELDS,
    "policies": POLICY_FIELDS,
    "approvals": APPROVAL_FIELDS,
}
