"""The OpenAPI document matches the implementation: schemathesis drives every operation."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from app.api.openapi import openapi_document

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402


def test_api_conforms_to_its_openapi_document(seeded_app, tokens, monkeypatch):
    # The answers' shapes are under test, not the rendering (tests/reporting/): a report made by a
    # fuzzed POST /reports is a stand-in file, so a dozen of them cost nothing.
    from app.reporting import archive

    monkeypatch.setattr(archive, "_render", lambda context, fmt, *_: f"{fmt} {context.run_id}".encode())
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", seeded_app)
    headers = {"Authorization": f"Bearer {tokens['admin']}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 13

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=12,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,
        )
        def conforms(case):
            # Business rules OpenAPI cannot state (an expiry within a year, an id that exists) answer a
            # schema-valid request with a documented 404/422, so "positive data accepted" is left out.
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        conforms()


def test_every_route_under_api_v1_is_documented(app):
    documented = set(openapi_document()["paths"])
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            path = (
                rule.rule.removeprefix("/api/v1")
                .replace("<int:", "{")
                .replace("<path:", "{")
                .replace("<", "{")
            )
            path = path.replace(">", "}")
            assert path in documented, rule.rule
