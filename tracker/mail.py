"""Sending mail: one message through the SMTP server of TRACKER_SMTP_URL.

`smtp://user:password@host:port` uses STARTTLS when the server offers it, `smtps://` TLS from
the first byte. aiosmtplib does the protocol; this module only builds the connection's
arguments and the headers every mail of tracker carries.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import unquote, urlsplit

import aiosmtplib

from tracker.errors import ConfigError, DeliveryError

TIMEOUT_SECONDS = 20.0


@dataclass(frozen=True, slots=True)
class Server:
    host: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool


def server_of(url: str) -> Server:
    """The SMTP server of TRACKER_SMTP_URL; ConfigError for anything else."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError(f"TRACKER_SMTP_URL={url!r}: write smtp://user:password@host:port (or smtps://).")
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
    except ValueError:
        raise ConfigError(f"TRACKER_SMTP_URL: {url!r} has no valid port.") from None
    return Server(parts.hostname, port, unquote(parts.username) if parts.username else None,
                  unquote(parts.password) if parts.password else None, parts.scheme == "smtps")


def message(sender: str, to: str, subject: str, text: str, html: str | None, headers: dict[str, str],
            domain: str) -> EmailMessage:
    """A mail with a plain-text part that reads well alone and, where given, an HTML one."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = subject
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=domain)
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
    for name, value in headers.items():
        mail[name] = value
    mail.set_content(text)
    if html is not None:
        mail.add_alternative(html, subtype="html")
    return mail


async def send(server: Server, mail: EmailMessage) -> None:
    """Hand the mail to the server; DeliveryError (retried later) when it cannot be."""
    try:
        await aiosmtplib.send(mail, hostname=server.host, port=server.port, username=server.username,
                              password=server.password, use_tls=server.implicit_tls,
                              start_tls=None if not server.implicit_tls else False, timeout=TIMEOUT_SECONDS)
    except (aiosmtplib.SMTPException, OSError) as exc:
        # The delivery log keeps this message: never the address (a refused recipient names it).
        said = str(exc).replace(str(mail["To"]), "[the subscriber]")
        raise DeliveryError(f"SMTP {server.host}:{server.port}: {type(exc).__name__}: {said}"[:300]) from None
