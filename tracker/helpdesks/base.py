"""The Source protocol every helpdesk module follows, and the checks they share."""

from __future__ import annotations

import base64
import hmac
import math
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any, Literal, Protocol

from tracker.cases import Event
from tracker.errors import BadRequest, Unauthorized

if TYPE_CHECKING:  # writing.py imports Options from here
    from tracker.helpdesks.writing import Writeback

Headers = Mapping[str, str]  # lower-case names
Options = Mapping[str, str]  # per tenant and source, set with `tracker source add --option`
NO_OPTIONS: Options = {}
# The one write-back option every helpdesk that takes notes or comments offers.
LINK_TEXT_HELP = "write-back: your own wording of the note or comment, with {url} where the link goes"


class Helpdesk(Protocol):
    """What a helpdesk module holds: its name (the URL segment), the options it reads, and
    verify() and parse(); WRITEBACK when its API takes the case link (else None).

    verify() checks the raw bytes before anything is parsed. parse() drops internal content
    (internal notes become `Event(internal=True)` with no text) and returns [] for deliveries
    that mean nothing for a case (pings and the like). `received_at` (from tracker's clock)
    dates an event whose payload carries no time. A module may set ANSWER_STATUS when its
    helpdesk takes only that status as delivered (tracker answers 202 otherwise).
    """

    # Read-only (properties), so that a module's dict or Writeback satisfies them.
    @property
    def NAME(self) -> str: ...
    # The README's table row: the helpdesk's name, how a delivery is authenticated, what makes a
    # retry a duplicate, and what is never shown.
    @property
    def TITLE(self) -> str: ...
    @property
    def SIGNATURE(self) -> str: ...
    @property
    def DEDUPE(self) -> str: ...
    @property
    def INTERNAL(self) -> str: ...
    @property
    def OPTIONS(self) -> Mapping[str, str]: ...
    @property
    def WRITEBACK(self) -> Writeback | None: ...

    def verify(self, headers: Headers, body: bytes, secret: str, now: datetime) -> None: ...
    def parse(self, payload: Any, headers: Headers, options: Options = NO_OPTIONS, *,
              received_at: datetime) -> list[Event]: ...


class DeliveryHeaders(Mapping[str, str]):
    """A delivery's headers (lower-case names) and, under HTTP/2's pseudo-header names, what
    some helpdesks sign besides the body: `:method`, and `:url`, the public URL the helpdesk
    called (tracker's base URL and the request's path: behind a proxy the request itself may
    say http:// and another host)."""

    __slots__ = ("_headers", "_target")

    def __init__(self, headers: Headers, method: str, url: str) -> None:
        self._headers = headers
        self._target = {":method": method, ":url": url}

    def __getitem__(self, name: str) -> str:
        return self._target[name] if name.startswith(":") else self._headers[name]

    def __iter__(self) -> Iterator[str]:
        yield from self._headers
        yield from self._target

    def __len__(self) -> int:
        return len(self._headers) + len(self._target)


# What a helpdesk's status means: (stage, whose move); None leaves that part as it was.
Move = tuple[str | None, str | None]


def status_changes(statuses: Mapping[str, Move], status: str) -> dict[str, Any]:
    """The case changes a helpdesk status brings, from the module's STATUSES table; a status the
    table does not know changes neither stage nor whose move it is."""
    stage, waiting_on = statuses.get(status, (None, None))
    changes: dict[str, Any] = {}
    if stage:
        changes["stage"] = stage
    if waiting_on:
        changes["waiting_on"] = waiting_on
    return changes


def hmac_matches(given: str, secret: str | bytes, message: bytes, *, digest: str = "sha256",
                 encoding: Literal["hex", "base64"] = "hex", prefix: str = "") -> bool:
    """Whether `given` is the HMAC of `message` under `secret`, written as `prefix` and then hex
    (any case) or base64; blanks around it are ignored. Constant time."""
    key = secret.encode() if isinstance(secret, str) else secret
    mac = hmac.digest(key, message, digest)
    expected = prefix + (mac.hex() if encoding == "hex" else base64.b64encode(mac).decode())
    given = given.strip()
    return equal(given.lower() if encoding == "hex" else given, expected)


def hmac_sha256(secret: bytes, message: bytes) -> bytes:
    return hmac.digest(secret, message, "sha256")  # the one-shot C path: a third of hmac.new's time


def equal(a: bytes | str, b: bytes | str) -> bool:
    """Constant-time comparison."""
    a_bytes = a.encode() if isinstance(a, str) else a
    b_bytes = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a_bytes, b_bytes)


def require_header(headers: Headers, name: str, source: str) -> str:
    value = headers.get(name)
    if not value:
        raise Unauthorized(f"Missing {name} header: is this webhook configured as source '{source}'?")
    return value


def check_timestamp(seconds: str, now: datetime, tolerance_seconds: int, source: str) -> datetime:
    try:
        sent = datetime.fromtimestamp(int(seconds), UTC)
    except (ValueError, OverflowError, OSError):
        raise Unauthorized(f"The timestamp header of source '{source}' is not a Unix time.") from None
    if abs((now - sent).total_seconds()) > tolerance_seconds:
        raise Unauthorized(
            f"The webhook timestamp is more than {tolerance_seconds} s away from our clock: "
            "a replay, or a sender whose clock is wrong."
        )
    return sent


# Times a helpdesk may send: anything outside is a mistake (and near datetime's own limits, an
# overflow waiting for the first subtraction).
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)


def parse_time(value: Any, where: str) -> datetime:
    """An ISO 8601 time (UTC when it names no zone), or a 400 that names the field."""
    if not isinstance(value, str):
        raise BadRequest(f"{where} must be an ISO 8601 time string.")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        in_range = EARLIEST <= parsed < LATEST
    except (ValueError, OverflowError):
        raise BadRequest(f"{where} is not an ISO 8601 time: {value[:40]!r}.") from None
    if not in_range:
        raise BadRequest(f"{where} is out of range: {value[:40]!r} (give a time from 1970 to 8999).")
    return parsed


def unix_time(value: Any, where: str) -> datetime:
    """Unix seconds (a whole or decimal number) as a UTC time, or a 400 that names the field."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise BadRequest(f"{where} must be a Unix time in seconds, not {str(value)[:40]!r}.")
    if not EARLIEST.timestamp() <= value < LATEST.timestamp():
        raise BadRequest(f"{where} is out of range: {str(value)[:40]} (give Unix seconds from 1970 to 8999).")
    return datetime.fromtimestamp(value, UTC)


def require_object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest(f"{where} is required (a JSON object).")
    return value


def require_text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"{where} is required (a string).")
    return value


def text_of(value: Any) -> str:
    """A string or whole-number field as text (helpdesks send ids as either), else ""."""
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""


class _TextParser(HTMLParser):
    """Collects the text of an HTML fragment: tags dropped, entities decoded, blocks on new lines."""

    _BLOCKS = frozenset({"br", "p", "div", "li", "tr", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6"})
    _SKIPPED = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIPPED:
            self.skipping += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def plain_text(html: str) -> str:
    """The text of an HTML message body; the page escapes it again on display."""
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip()


PROBLEM_SOURCE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
MAX_PROBLEM_ID_CHARS = 200


def problem_link(value: Any, where: str) -> str | None:
    """A link to a problem, `{"source": "github", "id": "acme/app#12"}`, as the case keeps it
    ("github:acme/app#12"); None unlinks. BadRequest naming `where` for anything else."""
    if value is None:
        return None
    source = value.get("source") if isinstance(value, dict) else None
    case_id = value.get("id") if isinstance(value, dict) else None
    if isinstance(case_id, int) and not isinstance(case_id, bool):
        case_id = str(case_id)
    if not isinstance(source, str) or not PROBLEM_SOURCE.match(source):
        raise BadRequest(f"{where}.source: give the problem's source, e.g. github (or {where}: null to unlink).")
    if not isinstance(case_id, str) or not case_id.strip() or len(case_id) > MAX_PROBLEM_ID_CHARS:
        raise BadRequest(f"{where}.id: give the problem's id in its source, e.g. acme/app#12.")
    return f"{source}:{case_id}"
