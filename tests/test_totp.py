"""RFC 6238's own test vectors, and the console's rules around them (drift, no replay, recovery codes)."""

from __future__ import annotations

import pytest

from tracker.console.totp import (
    DIGITS,
    STEP_SECONDS,
    hotp,
    matching_step,
    new_recovery_codes,
    new_secret,
    provisioning_uri,
    recovery_hash,
    remaining_after,
    secret_bytes,
    step_at,
    totp,
)

SEEDS = {"sha1": b"12345678901234567890", "sha256": b"12345678901234567890123456789012",
         "sha512": b"1234567890123456789012345678901234567890123456789012345678901234"}
# RFC 6238, Appendix B: (time, TOTP for SHA-1, SHA-256, SHA-512), eight digits.
VECTORS = [(59, "94287082", "46119246", "90693936"), (1111111109, "07081804", "68084774", "25091201"),
           (1111111111, "14050471", "67062674", "99943326"), (1234567890, "89005924", "91819424", "93441116"),
           (2000000000, "69279037", "90698825", "38618901"), (20000000000, "65353130", "77737706", "47863826")]


@pytest.mark.parametrize(("timestamp", "sha1", "sha256", "sha512"), VECTORS)
def test_rfc_6238_vectors(timestamp: int, sha1: str, sha256: str, sha512: str):
    for digest, expected in (("sha1", sha1), ("sha256", sha256), ("sha512", sha512)):
        assert totp(SEEDS[digest], timestamp, digits=8, digest=digest) == expected


def test_rfc_4226_vectors():
    expected = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"]
    assert [hotp(SEEDS["sha1"], counter) for counter in range(10)] == expected


def test_a_code_is_taken_within_one_step_of_drift_and_only_once():
    secret = new_secret()
    assert len(secret_bytes(secret)) == 20
    now = 1_700_000_000.0 + 7
    key = secret_bytes(secret)
    step = step_at(now)
    assert matching_step(secret, totp(key, now), now, 0) == step
    assert matching_step(secret, totp(key, now - STEP_SECONDS), now, 0) == step - 1  # a slow phone
    assert matching_step(secret, totp(key, now + STEP_SECONDS), now, 0) == step + 1
    assert matching_step(secret, totp(key, now - 2 * STEP_SECONDS), now, 0) is None
    assert matching_step(secret, totp(key, now), now, step) is None  # used already: no replay
    assert matching_step(secret, " ".join([totp(key, now)[:3], totp(key, now)[3:]]), now, 0) == step
    for wrong in ("", "12345", "1234567", "abcdef", "١٢٣٤٥٦"):
        assert matching_step(secret, wrong, now, 0) is None


def test_the_provisioning_link_is_what_authenticator_apps_read():
    uri = provisioning_uri("JBSWY3DPEHPK3PXP", "ann@example.com", "ACME Support")
    assert uri == ("otpauth://totp/ACME%20Support%3Aann%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=ACME+Support"
                   f"&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}")


def test_recovery_codes_work_once_each():
    codes = new_recovery_codes()
    assert len(set(codes)) == 10 and all(len(code) == 11 and code[5] == "-" for code in codes)
    hashes = " ".join(recovery_hash(code) for code in codes)
    left = remaining_after(hashes, codes[3].upper())
    assert left is not None and len(left.split()) == 9 and recovery_hash(codes[3]) not in left
    assert remaining_after(left, codes[3]) is None
    assert remaining_after(hashes, "nope-nope") is None
