"""Private pages stay out of search engines.

A case link pasted into a public forum is a link like any other to a crawler: every private
surface (the case page and everything under it, oEmbed answers about it, the admin API) says
`X-Robots-Tag: noindex`, whatever the answer, errors included. Public pages follow the tenant
option `public_indexing` (yes by default: the customer chose to publish), in `pages.py`.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

NOINDEX = b"noindex, nofollow"
PRIVATE_PREFIXES = ("/c/", "/oembed", "/api/", "/hooks/", "/live", "/n/", "/r/", "/admin")


class NoIndex:
    """ASGI middleware: the robots header on every answer under the private paths."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PRIVATE_PREFIXES):
            await self.app(scope, receive, send)
            return

        async def send_noindex(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-robots-tag", NOINDEX)]
            await send(message)

        await self.app(scope, receive, send_noindex)
