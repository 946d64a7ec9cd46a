"""The OpenAPI document of /api/v1, kept beside the implementation and tested against it."""

from __future__ import annotations

from app.inventory.schema import (
    AGENT_STATUSES,
    CREDENTIAL_KINDS,
    CREDENTIAL_STORAGES,
    ENVIRONMENTS,
    IDENTITY_KINDS,
    SERVER_AUTH_MODES,
    TRANSPORTS,
)

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string"},
        "field": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _ok(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


COMMON = {"401": _error("missing, unknown, expired or revoked token")}
WRITE = {**COMMON, "403": _error("the token's role may not do this")}

STR = {"type": "string"}
NULLABLE_STR = {"type": "string", "nullable": True}
DATE = {"type": "string", "description": "ISO 8601 date or date-time"}

FINDING = {
    "type": "object",
    "required": ["id", "check_id", "subject_kind", "subject_id", "status", "severity", "detail"],
    "properties": {
        "id": {"type": "integer"},
        "check_id": STR,
        "subject_kind": STR,
        "subject_id": STR,
        "status": {"type": "string", "enum": ["open", "resolved", "reopened"]},
        "severity": {"type": "string", "enum": ["critical", "high", "medium", "low"]},
        "detail": STR,
        "agent_id": NULLABLE_STR,
        "team": NULLABLE_STR,
        "environment": NULLABLE_STR,
        "first_seen_at": STR,
        "last_seen_at": STR,
        "resolved_at": NULLABLE_STR,
        "reopened_count": {"type": "integer"},
    },
}

RUN = {
    "type": "object",
    "required": ["id", "started_at", "catalog_hash", "counts", "scores"],
    "properties": {
        "id": {"type": "integer"},
        "started_at": STR,
        "finished_at": NULLABLE_STR,
        "duration_ms": {"type": "integer"},
        "trigger": STR,
        "actor": STR,
        "catalog_hash": STR,
        "counts": {"type": "object"},
        "scores": {"type": "object", "additionalProperties": {"type": "number", "nullable": True}},
        "check_errors": {"type": "object"},
        "requirement_statuses": {"type": "object"},
        "requirement_inferences": {
            "type": "object",
            "description": "For each status inferred through mappings: the sources, relationships and rule",
        },
    },
}

AGENT = {
    "type": "object",
    "required": ["id", "environment", "identity"],
    "properties": {
        "id": STR,
        "name": STR,
        "owner": STR,
        "team": STR,
        "purpose": STR,
        "environment": {"type": "string", "enum": list(ENVIRONMENTS)},
        "status": {"type": "string", "enum": list(AGENT_STATUSES)},
        "identity": {
            "type": "object",
            "required": ["kind"],
            "properties": {
                "kind": {"type": "string", "enum": list(IDENTITY_KINDS)},
                "id": STR,
                "attested": {"type": "boolean"},
            },
        },
        "tools": {"type": "array", "items": STR},
        "credentials": {"type": "array", "items": STR},
        "delegates_to": {"type": "array", "items": STR},
        "max_delegation_depth": {"type": "integer", "minimum": 0},
    },
}

INVENTORY_DOCUMENT = {
    "type": "object",
    "description": "A document in Steward's inventory format (docs/inventory-format.md).",
    "properties": {
        "agents": {"type": "array", "items": AGENT},
        "mcp_servers": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "transport"],
                "properties": {
                    "id": STR,
                    "transport": {"type": "string", "enum": list(TRANSPORTS)},
                    "url": STR,
                    "auth": {"type": "string", "enum": list(SERVER_AUTH_MODES)},
                },
            },
        },
        "credentials": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "kind"],
                "properties": {
                    "id": STR,
                    "kind": {"type": "string", "enum": list(CREDENTIAL_KINDS)},
                    "storage": {"type": "string", "enum": list(CREDENTIAL_STORAGES)},
                },
            },
        },
        "policies": {"type": "array", "items": {"type": "object"}},
        "approvals": {"type": "array", "items": {"type": "object"}},
    },
}

KIND_PARAM = {
    "name": "kind",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "enum": ["agents", "mcp-servers", "credentials", "policies", "approvals"]},
}


def _items(schema: str) -> dict:
    return {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _id_parameter(name: str) -> dict:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": 2147483647},
    }


REPORT = {
    "type": "object",
    "required": ["id", "created_at", "format", "run_id", "catalog_hash", "file_name", "sha256"],
    "properties": {
        "id": {"type": "integer"},
        "created_at": STR,
        "format": {"type": "string", "enum": ["pdf", "xlsx"]},
        "scope": {"type": "object"},
        "run_id": {"type": "integer", "nullable": True},
        "catalog_hash": STR,
        "file_name": STR,
        "sha256": STR,
        "size_bytes": {"type": "integer"},
        "made_by": STR,
        "schedule_id": {"type": "integer", "nullable": True},
    },
}
_NAMES = {"type": "array", "items": {"type": "string", "minLength": 1}}
REPORT_REQUEST = {
    "type": "object",
    "properties": {
        "formats": {"type": "array", "items": {"type": "string", "enum": ["pdf", "xlsx"]}},
        "frameworks": _NAMES,
        "environments": _NAMES,
        "teams": _NAMES,
    },
}
AUDIT_EVENT = {
    "type": "object",
    "required": ["ts", "agent", "tool", "decision"],
    "properties": {
        "ts": DATE,
        "agent": STR,
        "tool": {"type": "string", "description": "SERVER_ID.TOOL_NAME"},
        "decision": {"type": "string", "enum": ["allow", "deny", "error"]},
        "task": NULLABLE_STR,
        "approval": NULLABLE_STR,
        "credential": NULLABLE_STR,
        "chain_depth": {"type": "integer", "minimum": 0, "nullable": True},
        "delegated_by": NULLABLE_STR,
        "event_id": NULLABLE_STR,
    },
}
AUDIT_EVENTS = {
    "type": "object",
    "required": ["events"],
    "properties": {"events": {"type": "array", "minItems": 1, "maxItems": 10000, "items": AUDIT_EVENT}},
}
AUDIT_IMPORT = {
    "type": "object",
    "required": ["imported", "duplicates", "rejected", "errors", "dry_run"],
    "properties": {
        "imported": {"type": "integer"},
        "duplicates": {"type": "integer"},
        "rejected": {"type": "integer"},
        "errors": {
            "type": "array",
            "items": {"type": "object", "properties": {"field": STR, "message": STR}},
        },
        "dry_run": {"type": "boolean"},
    },
}


def openapi_document() -> dict:
    """The OpenAPI 3.0 description of every /api/v1 endpoint."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Steward API",
            "version": "1",
            "description": "Inventory, findings, requirement statuses and evaluations of Steward. "
            "Authenticate with 'Authorization: Bearer <token>' (tokens are created by admins).",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": ERROR,
                "Finding": FINDING,
                "Run": RUN,
                "InventoryDocument": INVENTORY_DOCUMENT,
                "Report": REPORT,
                "ReportRequest": REPORT_REQUEST,
                "AuditEvents": AUDIT_EVENTS,
                "AuditImport": AUDIT_IMPORT,
            },
        },
        "paths": {
            "/openapi.json": {
                "get": {
                    "summary": "This document (no token needed)",
                    "security": [],
                    "responses": {"200": _ok({"type": "object"})},
                }
            },
            "/inventory": {
                "get": {
                    "summary": "The whole inventory in the contract's format",
                    "responses": {"200": _ok({"$ref": "#/components/schemas/InventoryDocument"}), **COMMON},
                },
                "post": {
                    "summary": "Import entries (same validation as `steward import`; one transaction)",
                    "parameters": [
                        {
                            "name": "dry_run",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["0", "1", "true", "false"]},
                        },
                        {
                            "name": "prune",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["0", "1", "true", "false"]},
                        },
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/InventoryDocument"}}
                        },
                    },
                    "responses": {
                        "200": _ok(
                            {
                                "type": "object",
                                "properties": {
                                    "dry_run": {"type": "boolean"},
                                    "changes": {"type": "object"},
                                    "import_id": {"type": "integer"},
                                    "evaluation": {"type": "string", "enum": ["requested", "not needed"]},
                                },
                            }
                        ),
                        "400": _error("the body is not a JSON object"),
                        "422": _error("the inventory is invalid; every error is listed"),
                        **WRITE,
                    },
                },
            },
            "/inventory/{kind}": {
                "get": {
                    "summary": "Every entry of one kind",
                    "parameters": [KIND_PARAM],
                    "responses": {
                        "200": _ok(
                            {
                                "type": "object",
                                "properties": {"items": {"type": "array", "items": {"type": "object"}}},
                            }
                        ),
                        "404": _error("unknown kind"),
                        **COMMON,
                    },
                }
            },
            "/inventory/{kind}/{entry_id}": {
                "get": {
                    "summary": "One entry",
                    "parameters": [
                        KIND_PARAM,
                        {"name": "entry_id", "in": "path", "required": True, "schema": STR},
                    ],
                    "responses": {"200": _ok({"type": "object"}), "404": _error("no such entry"), **COMMON},
                }
            },
            "/findings": {
                "get": {
                    "summary": "Findings with filters, most severe first",
                    "parameters": [
                        {
                            "name": "status",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["open", "resolved", "reopened", "all"]},
                        },
                        {
                            "name": "severity",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["critical", "high", "medium", "low"]},
                        },
                        {"name": "framework", "in": "query", "schema": STR},
                        {"name": "requirement", "in": "query", "schema": STR},
                        {"name": "check", "in": "query", "schema": STR},
                        {"name": "agent", "in": "query", "schema": STR},
                        {"name": "team", "in": "query", "schema": STR},
                        {"name": "environment", "in": "query", "schema": STR},
                        {"name": "q", "in": "query", "schema": STR},
                        {
                            "name": "page",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 1000000},
                        },
                        {
                            "name": "per_page",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                        },
                    ],
                    "responses": {
                        "200": _ok(
                            {
                                "type": "object",
                                "required": ["total", "items"],
                                "properties": {
                                    "total": {"type": "integer"},
                                    "page": {"type": "integer"},
                                    "per_page": {"type": "integer"},
                                    "items": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Finding"},
                                    },
                                },
                            }
                        ),
                        "400": _error("a filter has a value outside its allowed set"),
                        **COMMON,
                    },
                }
            },
            "/findings/{finding_id}": {
                "get": {
                    "summary": "One finding with its history",
                    "parameters": [
                        {
                            "name": "finding_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 2147483647},
                        }
                    ],
                    "responses": {
                        "200": _ok({"$ref": "#/components/schemas/Finding"}),
                        "404": _error("no such finding"),
                        **COMMON,
                    },
                }
            },
            "/findings/{finding_id}/exceptions": {
                "post": {
                    "summary": "Accept a finding's risk until a date (at most a year)",
                    "parameters": [
                        {
                            "name": "finding_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 2147483647},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["justification", "expires_at"],
                                    "properties": {
                                        "justification": STR,
                                        "expires_at": DATE,
                                        "accepted_by": STR,
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _ok({"type": "object"}, "Created"),
                        "400": _error("not a JSON object"),
                        "404": _error("no such finding"),
                        "422": _error("a field is missing or wrong"),
                        **WRITE,
                    },
                }
            },
            "/frameworks": {
                "get": {
                    "summary": "Frameworks with their latest score",
                    "responses": {"200": _ok({"type": "object"}), **COMMON},
                }
            },
            "/frameworks/{framework_id}/requirements": {
                "get": {
                    "summary": "Each requirement's status in the latest run",
                    "parameters": [{"name": "framework_id", "in": "path", "required": True, "schema": STR}],
                    "responses": {
                        "200": _ok({"type": "object"}),
                        "404": _error("no such framework"),
                        **COMMON,
                    },
                }
            },
            "/frameworks/{framework_id}/requirements/{requirement_id}/attestations": {
                "post": {
                    "summary": "Attest a manual requirement",
                    "parameters": [
                        {"name": "framework_id", "in": "path", "required": True, "schema": STR},
                        {"name": "requirement_id", "in": "path", "required": True, "schema": STR},
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["statement", "expires_at", "evidence_url"],
                                    "properties": {
                                        "statement": STR,
                                        "expires_at": DATE,
                                        "evidence_url": STR,
                                        "not_applicable": {"type": "boolean"},
                                        "attested_by": STR,
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _ok({"type": "object"}, "Created"),
                        "400": _error("not a JSON object"),
                        "404": _error("no such framework or requirement"),
                        "422": _error("a field is missing or wrong"),
                        **WRITE,
                    },
                }
            },
            "/runs": {
                "get": {
                    "summary": "The newest evaluation runs",
                    "responses": {
                        "200": _ok(
                            {
                                "type": "object",
                                "properties": {
                                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Run"}}
                                },
                            }
                        ),
                        **COMMON,
                    },
                }
            },
            "/runs/{run_id}": {
                "get": {
                    "summary": "One run with every requirement status",
                    "parameters": [
                        {
                            "name": "run_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 2147483647},
                        }
                    ],
                    "responses": {
                        "200": _ok({"$ref": "#/components/schemas/Run"}),
                        "404": _error("no such run"),
                        **COMMON,
                    },
                }
            },
            "/evaluations": {
                "post": {
                    "summary": "Evaluate now",
                    "responses": {"201": _ok({"$ref": "#/components/schemas/Run"}, "Created"), **WRITE},
                }
            },
            "/reports": {
                "get": {
                    "summary": "The report archive, newest first",
                    "responses": {"200": _ok(_items("Report")), **COMMON},
                },
                "post": {
                    "summary": "Evaluate now and generate an evidence report into the archive",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/ReportRequest"}}
                        },
                    },
                    "responses": {
                        "201": _ok(_items("Report"), "Created"),
                        "400": _error("the body is not a JSON object"),
                        "422": _error("an unknown format, framework, environment or team"),
                        **WRITE,
                    },
                },
            },
            "/reports/{report_id}": {
                "get": {
                    "summary": "One archived report's record",
                    "parameters": [_id_parameter("report_id")],
                    "responses": {
                        "200": _ok({"$ref": "#/components/schemas/Report"}),
                        "404": _error("no such report"),
                        **COMMON,
                    },
                }
            },
            "/reports/{report_id}/file": {
                "get": {
                    "summary": "Download an archived report (checked against its SHA-256 first)",
                    "parameters": [_id_parameter("report_id")],
                    "responses": {
                        "200": {
                            "description": "The file",
                            "content": {
                                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                                    "schema": {"type": "string", "format": "binary"}
                                },
                            },
                        },
                        "404": _error("no such report"),
                        "409": _error("the file is missing or altered"),
                        **COMMON,
                    },
                }
            },
            "/audit-events": {
                "post": {
                    "summary": "Import gateway audit events (the contract's records); bad ones are skipped",
                    "parameters": [
                        {
                            "name": "dry_run",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["0", "1", "true"]},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/AuditEvents"}}
                        },
                    },
                    "responses": {
                        "200": _ok({"$ref": "#/components/schemas/AuditImport"}, "Dry run"),
                        "201": _ok({"$ref": "#/components/schemas/AuditImport"}, "Imported"),
                        "400": _error("the body is not a JSON object"),
                        "413": _error("too many events in one request"),
                        "422": _error("events is not a non-empty list"),
                        **WRITE,
                    },
                }
            },
        },
    }
