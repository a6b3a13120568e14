"""Small urlencoded forms: the customer's share and verdict forms, and the widget's lookup;
and whether a request wants its answer as JSON.

Read by hand rather than through Starlette's form parser, which needs python-multipart even
for urlencoded bodies; these have a handful of fields and a size cap.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request

from tracker.errors import BadRequest

MAX_FORM_BYTES = 4096
MAX_FORM_FIELDS = 10


async def read_form(request: Request, max_bytes: int = MAX_FORM_BYTES,
                    max_fields: int = MAX_FORM_FIELDS) -> dict[str, str]:
    """The form's fields (the first value of each); 400 when too large or unreadable."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise BadRequest(f"The form is larger than {max_bytes} bytes.")
    try:
        fields = parse_qs(body.decode(), keep_blank_values=True, max_num_fields=max_fields)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("The form could not be read.") from None
    return {name: values[0] for name, values in fields.items()}


def wants_json(request: Request) -> bool:
    """Whether the answer (an error's too) is JSON: for the API, the streams, and a page's
    scripts and the widget, which send JSON or ask for it."""
    path = request.url.path
    return (path.startswith(("/hooks/", "/api/", "/oembed")) or path == "/live" or path.endswith((".json", "/events"))
            or request.headers.get("content-type", "").startswith("application/json")
            or request.headers.get("accept", "").startswith("application/json"))
