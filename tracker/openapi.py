"""The OpenAPI 3.1 document of the admin API and the webhook endpoint (GET /api/v1/openapi.json).

Written by hand beside the routes it describes; a test walks the app's routes under /api/v1 and
/hooks and fails when a path or method is missing here, or described here but not served.
"""

from __future__ import annotations

from typing import Any

from tracker import __version__
from tracker.cases import EXPECTED_SOURCES, OWNERS, STAGES, WAITING_ON
from tracker.helpdesks import SOURCES

DESCRIPTION = """\
Live, signed case pages for any helpdesk.

The admin API lets a tenant's own automation mint and revoke the customer's case link and read
cases. Authenticate with `Authorization: Bearer trk_...`, a key made with
`tracker apikey add TENANT` (shown once; revoke it with `tracker apikey revoke TENANT NAME`).
A key reaches its own tenant's cases only.

A case is named by its source (the helpdesk, e.g. `zendesk`) and the helpdesk's own id,
percent-encoded in the path: GitHub's `octo/app#12` is `octo%2Fapp%2312`.

Errors are JSON: `{"ok": false, "status": N, "error": "what went wrong and what to do"}`.
"""


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def answer(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref(schema)}}}


def error(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


CASE_PARAMETERS = [{"$ref": "#/components/parameters/source"}, {"$ref": "#/components/parameters/case_id"}]
AUTHENTICATED: list[dict[str, list[str]]] = [{"apiKey": []}]
CASE_ERRORS = {"401": error("Unauthorized"), "404": error("NotFound")}

TIME = {"type": ["string", "null"], "format": "date-time"}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["ok", "status", "error"],
        "properties": {
            "ok": {"const": False},
            "status": {"type": "integer", "description": "the HTTP status again"},
            "error": {"type": "string", "description": "the problem and the next step"},
        },
    },
    "LinkRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "expires_days": {"type": ["integer", "null"], "minimum": 1, "maximum": 3650,
                             "description": "the link stops working after this many days; omitted or null: "
                                            "it works until the case's links are revoked"},
        },
    },
    "Link": {
        "type": "object",
        "required": ["url", "link_version", "expires_at"],
        "properties": {
            "url": {"type": "string", "format": "uri", "description": "the signed case page, for the customer"},
            "link_version": {"type": "integer"},
            "expires_at": TIME,
        },
    },
    "LinkVersion": {
        "type": "object",
        "required": ["link_version"],
        "properties": {"link_version": {"type": "integer", "description": "links signed before now carry an "
                                                                          "older version and answer 410"}},
    },
    "LinkState": {
        "type": "object",
        "required": ["source", "link_version", "public"],
        "properties": {
            "source": {"type": "string"},
            "link_version": {"type": "integer"},
            "public": {"type": "boolean", "description": "whether the customer has made the case public (the "
                                                         "public id is theirs to share and is not given out)"},
        },
    },
    "NextStep": {
        "type": "object",
        "required": ["text", "owner", "done"],
        "properties": {"text": {"type": "string"}, "owner": {"enum": list(OWNERS)}, "done": {"type": "boolean"}},
    },
    "Update": {
        "type": "object",
        "required": ["id", "at", "body", "author_display"],
        "properties": {"id": {"type": "string"}, "at": {"type": "string", "format": "date-time"},
                       "body": {"type": "string"}, "author_display": {"type": "string"}},
    },
    "CaseSummary": {
        "allOf": [
            ref("LinkState"),
            {
                "type": "object",
                "required": ["case_id", "title", "stage", "waiting_on", "revision"],
                "properties": {
                    "case_id": {"type": "string", "description": "the helpdesk's own id"},
                    "title": {"type": "string"},
                    "stage": {"enum": list(STAGES)},
                    "status_label": {"type": ["string", "null"], "description": "the helpdesk's own wording"},
                    "waiting_on": {"enum": list(WAITING_ON), "description": "whose move it is"},
                    "progress": {"type": ["integer", "null"], "minimum": 0, "maximum": 100},
                    "expected_by": TIME,
                    "updated_at": TIME,
                    "revision": {"type": "integer", "description": "sequence of the newest change"},
                },
            },
        ],
    },
    "Case": {
        "description": "what the customer sees on the case page, and the link state",
        "allOf": [
            ref("CaseSummary"),
            {
                "type": "object",
                "required": ["next_steps", "updates"],
                "properties": {
                    "stages": {"type": "array", "items": {"enum": list(STAGES)}},
                    "expected_source": {"enum": [*EXPECTED_SOURCES, None]},
                    "next_steps": {"type": "array", "items": ref("NextStep")},
                    "updates": {"type": "array", "items": ref("Update"), "description": "public updates, newest first"},
                    "created_at": TIME,
                },
            },
        ],
    },
    "CaseList": {
        "type": "object",
        "required": ["cases", "limit"],
        "properties": {"cases": {"type": "array", "items": ref("CaseSummary")}, "limit": {"type": "integer"}},
    },
    "ProblemLink": {
        "type": "object",
        "required": ["source", "id"],
        "properties": {"source": {"type": "string", "description": "the problem's source, e.g. github or jira"},
                       "id": {"type": "string", "description": "its id there, e.g. acme/app#12"}},
    },
    "Linked": {
        "type": "object",
        "required": ["problem"],
        "properties": {"problem": {"oneOf": [ref("ProblemLink"), {"type": "null"}]}},
    },
    "ProblemNotesChange": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "public_title": {"type": "string", "maxLength": 200,
                             "description": "the title customers see (the problem's own never, unless the tenant "
                                            "sets problem_updates=public)"},
            "summary": {"type": "string", "maxLength": 2000},
            "listed": {"type": "boolean", "description": "shown on the company's status page, /s/{tenant}"},
        },
    },
    "ProblemNotes": {
        "type": "object",
        "required": ["source", "id", "public_title", "summary", "listed", "open_linked_cases"],
        "properties": {"source": {"type": "string"}, "id": {"type": "string"}, "public_title": {"type": "string"},
                       "summary": {"type": "string"}, "listed": {"type": "boolean"},
                       "open_linked_cases": {"type": "integer"}},
    },
    "RequesterLinkRequest": {
        "type": "object",
        "required": ["email"],
        "additionalProperties": False,
        "properties": {
            "email": {"type": "string", "format": "email",
                      "description": "the requester's address as the helpdesks report it (any case)"},
            "expires_days": {"type": ["integer", "null"], "minimum": 1, "maximum": 3650},
        },
    },
    "RequesterLink": {
        "type": "object",
        "required": ["url", "expires_at"],
        "properties": {"url": {"type": "string", "format": "uri",
                               "description": "the requester's live list of cases, BASE_URL/r/{token}"},
                       "expires_at": TIME},
    },
    "RequesterRevokeRequest": {
        "type": "object",
        "required": ["email"],
        "additionalProperties": False,
        "properties": {"email": {"type": "string", "format": "email"}},
    },
    "RequesterLinksVersion": {
        "type": "object",
        "required": ["links_version"],
        "properties": {"links_version": {"type": "integer",
                                         "description": "list links carry this version from now on"}},
    },
    "Received": {
        "type": "object",
        "required": ["received", "limit"],
        "properties": {
            "limit": {"type": "integer"},
            "received": {"type": "array", "items": {
                "type": "object",
                "required": ["at", "source", "outcome", "status", "detail", "delivery_id"],
                "properties": {
                    "at": {"type": "string", "format": "date-time"}, "source": {"type": "string"},
                    "outcome": {"enum": ["stored", "duplicate", "ignored", "refused"]},
                    "status": {"type": "integer", "description": "what tracker answered the helpdesk"},
                    "detail": {"type": "string", "description": "the case and revision stored, or why nothing was"},
                    "delivery_id": {"type": "string"},
                },
            }},
        },
    },
    "Hours": {
        "type": "object",
        "required": ["median", "p80", "cases"],
        "properties": {"median": {"type": ["number", "null"]}, "p80": {"type": ["number", "null"]},
                       "cases": {"type": "integer", "description": "how many cases the figure is taken over"}},
    },
    "InsightsGroup": {
        "type": "object",
        "required": ["source", "priority", "opened", "resolved", "open", "hours", "gone_quiet", "silent_work",
                     "expected", "verdicts", "ratings"],
        "properties": {
            "source": {"type": "string"},
            "priority": {"type": ["string", "null"], "description": "null: all of the source's cases"},
            "opened": {"type": "integer"}, "resolved": {"type": "integer"}, "open": {"type": "integer"},
            "hours": {"type": "object",
                      "description": "median and 80th percentile (nearest rank), in hours",
                      "required": ["first_update", "received", "in_progress", "resolved", "resolution", "slip"],
                      "additionalProperties": ref("Hours")},
            "gone_quiet": {"type": "integer", "description": "cases that went longer than promise_hours "
                                                             "without a public update while open"},
            "silent_work": {"type": "integer", "description": "cases with internal activity after "
                                                              "nudge_after_hours without a public update"},
            "expected": {"type": "object", "required": ["given", "held", "held_share"],
                         "description": "resolved cases given an expected time, and those resolved by the first",
                         "properties": {"given": {"type": "integer"}, "held": {"type": "integer"},
                                        "held_share": {"type": ["number", "null"]}}},
            "verdicts": {"type": "object", "required": ["solved", "not_solved"],
                         "properties": {"solved": {"type": "integer"}, "not_solved": {"type": "integer"}}},
            "ratings": {"type": "object", "required": ["count", "average", "by_score"],
                        "properties": {"count": {"type": "integer"}, "average": {"type": ["number", "null"]},
                                       "by_score": {"type": "object",
                                                    "additionalProperties": {"type": "integer"}}}},
        },
    },
    "Insights": {
        "type": "object",
        "required": ["tenant", "since", "source", "opened_since", "now", "promise_hours", "nudge_after_hours",
                     "groups", "problems"],
        "properties": {
            "tenant": {"type": "string"}, "since": {"type": "string"}, "source": {"type": ["string", "null"]},
            "opened_since": TIME, "now": TIME,
            "promise_hours": {"type": "number"}, "nudge_after_hours": {"type": "number"},
            "groups": {"type": "array", "items": ref("InsightsGroup")},
            "problems": {"type": "array", "description": "the problems with the most affected customers",
                         "items": {"type": "object",
                                   "required": ["problem", "public_title", "title", "customers", "cases", "open"],
                                   "properties": {"problem": {"type": "string", "description": "SOURCE:ID"},
                                                  "public_title": {"type": "string"},
                                                  "title": {"type": "string"},
                                                  "customers": {"type": "integer"}, "cases": {"type": "integer"},
                                                  "open": {"type": "integer"}}}},
        },
    },
    "WebhookAccepted": {
        "type": "object",
        "required": ["ok", "stored", "duplicates"],
        "properties": {
            "ok": {"const": True},
            "stored": {"type": "integer", "description": "events stored by this delivery"},
            "duplicates": {"type": "integer", "description": "events already stored by an earlier delivery"},
        },
    },
}

PATHS: dict[str, Any] = {
    "/api/v1/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This document",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}},
        },
    },
    "/api/v1/cases": {
        "get": {
            "operationId": "listCases",
            "summary": "The tenant's cases, newest first",
            "security": AUTHENTICATED,
            "parameters": [{"name": "limit", "in": "query", "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}}],
            "responses": {"200": answer("the cases", "CaseList"), "400": error("BadRequest"),
                          "401": error("Unauthorized")},
        },
    },
    "/api/v1/cases/{source}/{case_id}": {
        "get": {
            "operationId": "getCase",
            "summary": "One case as its customer sees it, with its link state",
            "security": AUTHENTICATED,
            "parameters": CASE_PARAMETERS,
            "responses": {"200": answer("the case", "Case"), **CASE_ERRORS},
        },
    },
    "/api/v1/cases/{source}/{case_id}/links": {
        "post": {
            "operationId": "createLink",
            "summary": "Mint a signed link to the case page, for the customer",
            "security": AUTHENTICATED,
            "parameters": CASE_PARAMETERS,
            "requestBody": {"required": False, "content": {"application/json": {"schema": ref("LinkRequest")}}},
            "responses": {"201": answer("the link", "Link"), "400": error("BadRequest"), **CASE_ERRORS},
        },
    },
    "/api/v1/cases/{source}/{case_id}/revoke": {
        "post": {
            "operationId": "revokeLinks",
            "summary": "Stop every link to the case issued so far",
            "description": "Old links answer 410 with a page that tells the customer what to do; mint a new one.",
            "security": AUTHENTICATED,
            "parameters": CASE_PARAMETERS,
            "responses": {"200": answer("the new link version", "LinkVersion"), **CASE_ERRORS},
        },
    },
    "/api/v1/cases/{source}/{case_id}/problem": {
        "put": {
            "operationId": "linkProblem",
            "summary": "Link the case to a problem: another case of the tenant, from any source",
            "description": "The customer then sees the problem as the company describes it, live; see "
                           "PATCH /api/v1/problems/{source}/{case_id}.",
            "security": AUTHENTICATED,
            "parameters": CASE_PARAMETERS,
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref("ProblemLink")}}},
            "responses": {"200": answer("the link", "Linked"), "400": error("BadRequest"), **CASE_ERRORS},
        },
        "delete": {
            "operationId": "unlinkProblem",
            "summary": "Unlink the case from its problem",
            "security": AUTHENTICATED,
            "parameters": CASE_PARAMETERS,
            "responses": {"200": answer("no link", "Linked"), **CASE_ERRORS},
        },
    },
    "/api/v1/problems/{source}/{case_id}": {
        "get": {
            "operationId": "getProblem",
            "summary": "What customers are told of a problem, and how many open cases it affects",
            "security": AUTHENTICATED,
            "parameters": CASE_PARAMETERS,
            "responses": {"200": answer("the problem", "ProblemNotes"), **CASE_ERRORS},
        },
        "patch": {
            "operationId": "describeProblem",
            "summary": "Change what customers are told of a problem; every linked case shows the change",
            "security": AUTHENTICATED,
            "parameters": CASE_PARAMETERS,
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": ref("ProblemNotesChange")}}},
            "responses": {"200": answer("the problem", "ProblemNotes"), "400": error("BadRequest"), **CASE_ERRORS},
        },
    },
    "/api/v1/requesters/links": {
        "post": {
            "operationId": "createRequesterLink",
            "summary": "Mint a signed link to a requester's own cases, from every source, live",
            "description": "For a company's signed-in support pages: the link opens the list only (no case "
                           "page), and each case in it through a case link signed when it is shown.",
            "security": AUTHENTICATED,
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": ref("RequesterLinkRequest")}}},
            "responses": {"201": answer("the link", "RequesterLink"), "400": error("BadRequest"),
                          "401": error("Unauthorized")},
        },
    },
    "/api/v1/requesters/revoke": {
        "post": {
            "operationId": "revokeRequesterLinks",
            "summary": "Withdraw every list link issued so far for a requester",
            "description": "Each opens a 410 from now on (an open list ends at its next connection); links "
                           "minted afterwards work. The case links in a list are revoked with their cases.",
            "security": AUTHENTICATED,
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": ref("RequesterRevokeRequest")}}},
            "responses": {"200": answer("the new version", "RequesterLinksVersion"), "400": error("BadRequest"),
                          "401": error("Unauthorized")},
        },
    },
    "/api/v1/received": {
        "get": {
            "operationId": "listReceived",
            "summary": "The latest webhook deliveries, newest first, and why those that stored nothing did not",
            "security": AUTHENTICATED,
            "parameters": [
                {"name": "source", "in": "query", "required": False, "schema": {"type": "string"}},
                {"name": "limit", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}},
            ],
            "responses": {"200": answer("the deliveries", "Received"), "400": error("BadRequest"),
                          "401": error("Unauthorized"), "404": error("NotFound")},
        },
    },
    "/api/v1/insights": {
        "get": {
            "operationId": "getInsights",
            "summary": "What the cases teach: times, promises kept, verdicts, per source and priority",
            "description": "The cases opened in the period (`since`: a whole number and h, d or w), as "
                           "`tracker insights` reports them.",
            "security": AUTHENTICATED,
            "parameters": [
                {"name": "since", "in": "query", "required": False,
                 "schema": {"type": "string", "pattern": "^[1-9][0-9]{0,5}[hdw]$", "default": "30d"}},
                {"name": "source", "in": "query", "required": False, "schema": {"type": "string"}},
            ],
            "responses": {"200": answer("the report", "Insights"), "400": error("BadRequest"),
                          "401": error("Unauthorized")},
        },
    },
    "/hooks/{tenant}/{source}": {
        "post": {
            "operationId": "receiveWebhook",
            "summary": "A helpdesk's webhook delivery",
            "description": "Verified by the source's own scheme (signature header or shared token, see "
                           "`tracker source add`), then stored in one transaction; answered only after the "
                           "events are durably stored. A repeated delivery is stored once.",
            "security": [],
            "parameters": [
                {"name": "tenant", "in": "path", "required": True, "schema": {"type": "string"}},
                {"$ref": "#/components/parameters/source"},
            ],
            "requestBody": {"required": True, "description": "the helpdesk's own JSON body",
                            "content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {
                "202": answer("stored", "WebhookAccepted"),
                "400": error("BadRequest"),
                "401": {"description": "bad or missing signature",
                        "content": {"application/json": {"schema": ref("Error")}}},
                "404": error("NotFound"),
                "413": {"description": "larger than TRACKER_MAX_BODY_BYTES",
                        "content": {"application/json": {"schema": ref("Error")}}},
            },
        },
    },
}


def document(base_url: str) -> dict[str, Any]:
    error_content = {"application/json": {"schema": ref("Error")}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "tracker", "version": __version__, "description": DESCRIPTION},
        "servers": [{"url": base_url}],
        "paths": PATHS,
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer",
                                           "description": "a key made with `tracker apikey add TENANT`"}},
            "parameters": {
                "source": {"name": "source", "in": "path", "required": True,
                           "schema": {"enum": sorted(SOURCES)}, "description": "the helpdesk"},
                "case_id": {"name": "case_id", "in": "path", "required": True, "schema": {"type": "string"},
                            "description": "the helpdesk's own case id, percent-encoded (octo%2Fapp%2312)"},
            },
            "responses": {
                "BadRequest": {"description": "malformed request", "content": error_content},
                "Unauthorized": {"description": "no API key, or an unknown or revoked one",
                                 "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
                                 "content": error_content},
                "NotFound": {"description": "no such case for this key's tenant, or an unknown source",
                             "content": error_content},
            },
            "schemas": SCHEMAS,
        },
    }
