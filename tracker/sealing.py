"""Secrets at rest: the helpdesks' webhook secrets and API credentials are stored sealed (AES-GCM
under a key derived from TRACKER_SECRET_KEYS), so that a copy of the database alone lets no one
sign webhooks to tracker or call a helpdesk's API as it. (Still readable there: the company's
own webhook_secret, a tenant option, with which tracker signs what it sends the company.)

They cannot be hashed like the admin API's keys: tracker itself must use them (an HMAC needs the
secret, a write-back its token). With TRACKER_SECRET_KEYS unset, the key is generated and kept in
the database, and sealing protects nothing: production sets the keys (the README says so). The
newest key seals, every key opens, so keys rotate like the signing keys; a value stored before
sealing existed is read as it is and sealed when it is next written.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tracker.errors import ConfigError
from tracker.storage.base import SourceConfig

SEALED = "sealed:v1:"
# The options that are credentials (a helpdesk's API token, an OAuth client secret and refresh
# token); the others (URLs, ids, field names) stay readable.
SECRET_OPTIONS = frozenset({"api_token", "app_secret", "client_secret", "refresh_token"})
NONCE_BYTES = 12


def _key(signing_key: str) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"tracker secrets at rest",
                   info=b"v1").derive(signing_key.encode())
    return AESGCM(derived)


class Sealer:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one key is needed")
        self._keys = [_key(key) for key in reversed(keys)]  # the newest first: it sealed most

    def seal(self, text: str) -> str:
        if not text or text.startswith(SEALED):
            return text
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[0].encrypt(nonce, text.encode(), SEALED.encode())
        return SEALED + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, text: str) -> str:
        """The secret; as it is when it was stored unsealed. ConfigError when no key opens it."""
        if not text.startswith(SEALED):
            return text
        try:
            raw = base64.urlsafe_b64decode(text.removeprefix(SEALED).encode("ascii"))
        except ValueError:
            raw = b""  # not something we sealed: no key opens it
        for key in self._keys:
            try:
                return key.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], SEALED.encode()).decode()
            except (InvalidTag, ValueError):
                continue
        raise ConfigError("A stored secret opens with none of TRACKER_SECRET_KEYS: were the keys replaced? Add the "
                          "old key back (the last one signs, all open), or connect the source again.")

    def seal_options(self, options: Mapping[str, str]) -> dict[str, str]:
        return {name: self.seal(value) if name in SECRET_OPTIONS else value for name, value in options.items()}

    def open_options(self, options: Mapping[str, str]) -> dict[str, str]:
        return {name: self.open(value) if name in SECRET_OPTIONS else value for name, value in options.items()}

    def seal_source(self, config: SourceConfig) -> SourceConfig:
        return replace(config, secret=self.seal(config.secret), options=self.seal_options(config.options))

    def open_source(self, config: SourceConfig) -> SourceConfig:
        return replace(config, secret=self.open(config.secret), options=self.open_options(config.options))
