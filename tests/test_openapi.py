"""The OpenAPI document stays in step with the app's routes, and with what the API answers."""

from __future__ import annotations

import re
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.conftest import generic_payload, post
from tests.test_admin_api import bearer, make_key
from tracker.app import create_app
from tracker.config import Settings
from tracker.openapi import document

DOCUMENTED_PREFIXES = ("/api/v1/", "/hooks/")
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


def served(app: Starlette) -> dict[str, set[str]]:
    """Path template -> methods of every route under the documented prefixes (`{x:path}` -> `{x}`)."""
    routes: dict[str, set[str]] = {}
    for route in app.routes:
        if isinstance(route, Route) and route.path.startswith(DOCUMENTED_PREFIXES):
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
            routes.setdefault(path, set()).update(m.lower() for m in (route.methods or {"GET"}) if m != "HEAD")
    return routes


def test_every_served_path_and_method_is_documented_and_nothing_else(settings: Settings):
    paths = document(settings.base_url)["paths"]
    described = {path: {m for m in item if m in HTTP_METHODS} for path, item in paths.items()}
    assert served(create_app(settings)) == described


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


def test_the_document_is_openapi_3_1_whose_references_and_path_parameters_hold(settings: Settings):
    doc = document(settings.base_url)
    assert doc["openapi"] == "3.1.0" and doc["servers"] == [{"url": settings.base_url}]
    for ref in refs(doc):
        resolve(doc, ref)
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            declared = {p["name"] for p in (resolve(doc, p["$ref"]) if "$ref" in p else p
                                            for p in operation.get("parameters", [])) if p["in"] == "path"}
            assert declared == set(re.findall(r"\{(\w+)\}", path)), (method, path)
            assert operation["operationId"] and operation["responses"]
            if path.startswith("/api/v1/cases"):
                assert operation["security"] == [{"apiKey": []}]
                assert "401" in operation["responses"]


def required_fields(doc: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    """The required properties of a schema, through $ref and allOf."""
    if "$ref" in schema:
        return required_fields(doc, resolve(doc, schema["$ref"]))
    found = set(schema.get("required", []))
    for part in schema.get("allOf", []):
        found |= required_fields(doc, part)
    return found


def test_answers_carry_what_the_document_requires(client: TestClient, settings: Settings):
    served_doc = client.get("/api/v1/openapi.json")  # no key needed
    assert served_doc.status_code == 200
    doc = served_doc.json()
    assert doc == document(settings.base_url)
    schemas = doc["components"]["schemas"]
    post(client, generic_payload(title="Schema check", next_steps=[{"text": "Wait", "owner": "company"}]))
    key = make_key(client)
    case = client.get("/api/v1/cases/generic/4711", headers=bearer(key)).json()
    assert required_fields(doc, schemas["Case"]) <= set(case)
    listed = client.get("/api/v1/cases", headers=bearer(key)).json()
    assert required_fields(doc, schemas["CaseList"]) <= set(listed)
    assert required_fields(doc, schemas["CaseSummary"]) <= set(listed["cases"][0])
    link = client.post("/api/v1/cases/generic/4711/links", headers=bearer(key)).json()
    assert required_fields(doc, schemas["Link"]) <= set(link)
    revoked = client.post("/api/v1/cases/generic/4711/revoke", headers=bearer(key)).json()
    assert required_fields(doc, schemas["LinkVersion"]) <= set(revoked)
    error = client.get("/api/v1/cases").json()
    assert required_fields(doc, schemas["Error"]) <= set(error)
    accepted = post(client, generic_payload("4712")).json()
    assert required_fields(doc, schemas["WebhookAccepted"]) <= set(accepted)
