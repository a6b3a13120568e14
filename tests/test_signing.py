"""Signed case links: round trip, tamper, wrong purpose, expiry, rotation, revocation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer

from tests.conftest import suite_clock
from tracker.clock import Clock
from tracker.errors import NotFound
from tracker.signing import LinkGone, Signer

OLD, NEW = "old-key-0123456789abcdef", "new-key-0123456789abcdef"


def test_round_trip():
    token = Signer([NEW], suite_clock()).sign_case_link("acme", "generic", "4711", 3)
    link = Signer([NEW], suite_clock()).read_case_link(token)
    assert (link.tenant, link.source, link.case_id, link.link_version, link.expires_at) == (
        "acme", "generic", "4711", 3, None)


def test_tampered_token_is_not_found():
    token = Signer([NEW], suite_clock()).sign_case_link("acme", "generic", "4711", 1)
    payload, rest = token.split(".", 1)
    forged = URLSafeTimedSerializer("x").dump_payload(["acme", "generic", "4712", 1, 0]).decode()
    for bad in (forged + "." + rest, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), "garbage"):
        with pytest.raises(NotFound):
            Signer([NEW], suite_clock()).read_case_link(bad)


def test_token_signed_for_another_purpose_is_rejected():
    other = URLSafeTimedSerializer([NEW], salt="tracker.public-id").dumps(["acme", "generic", "4711", 1, 0])
    with pytest.raises(NotFound):
        Signer([NEW], suite_clock()).read_case_link(other)


def test_expired_link_is_gone_and_says_when_it_was_issued(clock: Clock):
    signer = Signer([NEW], clock)
    signed_at = clock.now()
    token = signer.sign_case_link("acme", "generic", "4711", 1, expires_at=signed_at + timedelta(days=2))
    clock.advance(timedelta(days=2) - timedelta(seconds=5))
    assert signer.read_case_link(token).case_id == "4711"
    clock.advance(timedelta(seconds=6))
    with pytest.raises(LinkGone) as gone:
        signer.read_case_link(token)
    assert gone.value.status == 410
    assert abs((gone.value.link.signed_at - signed_at).total_seconds()) < 2  # the clock's time, not the wall's


def test_rotation_old_links_keep_working_until_the_old_key_is_dropped():
    old_token = Signer([OLD], suite_clock()).sign_case_link("acme", "generic", "4711", 1)
    rotated = Signer([OLD, NEW], suite_clock())
    assert rotated.read_case_link(old_token).case_id == "4711"
    new_token = rotated.sign_case_link("acme", "generic", "4711", 1)
    assert Signer([NEW], suite_clock()).read_case_link(new_token).case_id == "4711"  # the last key signs
    with pytest.raises(NotFound):
        Signer([NEW], suite_clock()).read_case_link(old_token)


def test_a_verified_link_is_remembered_but_a_tampered_copy_is_still_refused():
    signer = Signer([NEW], suite_clock())
    token = signer.sign_case_link("acme", "generic", "4711", 1)
    assert signer.read_case_link(token) is signer.read_case_link(token)  # verified once
    with pytest.raises(NotFound):
        signer.read_case_link(token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
