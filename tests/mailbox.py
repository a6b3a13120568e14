"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, parsed by Python's
`email` package the way a mail client would."""

from __future__ import annotations

import email
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller

from tests.conftest import free_port


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._arrived = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._arrived:
            self.messages.append(email.message_from_bytes(envelope.content, policy=default))  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self._arrived.notify_all()
        return "250 OK"

    def wait_for(self, count: int, seconds: float = 20) -> list[EmailMessage]:
        """The first `count` messages, once that many have arrived."""
        deadline = time.monotonic() + seconds
        with self._arrived:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(self.messages)} of {count} mails arrived"
                self._arrived.wait(left)
            return self.messages[:count]


@contextmanager
def smtp_server() -> Iterator[tuple[str, Mailbox]]:
    """(the TRACKER_SMTP_URL of a fresh server, its mailbox)."""
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", mailbox
    finally:
        controller.stop()


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())
