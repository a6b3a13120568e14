"""Rows to records, for both backends: the column lists and the mappers. SQLite keeps times as
ISO text and PostgreSQL as timestamptz, so the mappers take the backend's way to read a time."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from tracker.cases import load_case
from tracker.storage.base import ApiKey, AuditEntry, ConsoleAccount, Delivery, ProblemNotes, StoredCase, Subscriber

CASE_COLUMNS = "id, tenant, source, state, seq, link_version, public_id, public_title"
DELIVERY_COLUMNS = ("id, tenant, kind, event_type, case_key, request, status, attempts, next_attempt_at, last_error, "
                    "created_at, updated_at")
API_KEY_COLUMNS = "id, tenant, name, key_hash, created_at, revoked_at"
SUBSCRIBER_COLUMNS = ("id, tenant, case_key, audience, address, language, confirmed_at, told_seq, told_at, "
                      "created_at, channel, push_keys")
PROBLEM_COLUMNS = "tenant, source, case_id, public_title, summary, listed, updated_at"
CONSOLE_ACCOUNT_COLUMNS = ("id, tenant, email, password_hash, session_version, setup_hash, setup_expires_at, "
                           "created_at, totp_secret, totp_step, recovery_hashes")
AUDIT_COLUMNS = "tenant, actor, action, detail, at"
ReadTime = Callable[[Any], datetime]


def stored_case(row: Iterable[Any]) -> StoredCase:
    key, tenant, source, state, seq, link_version, public_id, public_title = row
    return StoredCase(key, tenant, source, load_case(state), seq, link_version, public_id, public_title)


def delivery(row: Iterable[Any], read_time: ReadTime) -> Delivery:
    key, tenant, kind, event_type, case_key, request, status, attempts, next_at, error, created, updated = row
    return Delivery(key, tenant, kind, event_type, case_key, json.loads(request), status, attempts,
                    read_time(next_at), error, read_time(created), read_time(updated))


def api_key(row: Iterable[Any], read_time: ReadTime) -> ApiKey:
    key, tenant, name, key_hash, created, revoked = row
    return ApiKey(key, tenant, name, key_hash, read_time(created), None if revoked is None else read_time(revoked))


def subscriber(row: Iterable[Any], read_time: ReadTime) -> Subscriber:
    key, tenant, case_key, audience, address, language, confirmed, told_seq, told_at, created, channel, keys = row
    return Subscriber(key, tenant, case_key, audience, address, language,
                      None if confirmed is None else read_time(confirmed), told_seq,
                      None if told_at is None else read_time(told_at), read_time(created), channel, keys)


def problem_notes(row: Iterable[Any], read_time: ReadTime) -> ProblemNotes:
    tenant, source, case_id, public_title, summary, listed, updated_at = row
    return ProblemNotes(tenant, source, case_id, public_title, summary, bool(listed), read_time(updated_at))


def console_account(row: Iterable[Any], read_time: ReadTime) -> ConsoleAccount:
    key, tenant, email, password_hash, session_version, setup_hash, setup_expires, created, totp, step, recovery = row
    return ConsoleAccount(key, tenant, email, password_hash, session_version, setup_hash,
                          None if setup_expires is None else read_time(setup_expires), read_time(created), totp, step,
                          recovery)


def audit_entry(row: Iterable[Any], read_time: ReadTime) -> AuditEntry:
    tenant, actor, action, detail, at = row
    return AuditEntry(tenant, actor, action, detail, read_time(at))
