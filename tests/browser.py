"""What the browser tests share: Debian's Chromium, and a second site (another origin) that
embeds tracker the way a company's or a customer's page does."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.clock_of_suite import CLOCK_OFFSET_DAYS, suite_clock

# Debian's Chromium (never a downloaded one), kept quiet: no background traffic to anywhere.
CHROMIUM_ARGS = ["--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-quic"]


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield ShiftedBrowser(launched) if CLOCK_OFFSET_DAYS else launched  # type: ignore[misc]
        finally:
            launched.close()


class ShiftedBrowser:
    """Chromium whose pages read the suite's clock: under TRACKER_CLOCK_OFFSET_DAYS the browser is
    moved with the servers, so "in 3 hours" is judged against the same now on both sides."""

    def __init__(self, browser: Browser) -> None:
        self._browser = browser

    def new_context(self, **options: Any) -> BrowserContext:
        context = self._browser.new_context(**options)
        context.clock.install(time=suite_clock().now())  # then time runs on from there, timers included
        return context

    def new_page(self, **options: Any) -> Page:
        context = self.new_context(**options)
        page = context.new_page()
        page.on("close", lambda _: context.close())
        return page

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)


class HostSite:
    """A second origin for the pages that embed the widget: path -> (html, headers)."""

    def __init__(self) -> None:
        pages = self.pages = dict[str, tuple[str, dict[str, str]]]()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                html, headers = pages.get(self.path, ("", {}))
                body = html.encode()
                self.send_response(200 if self.path in pages else 204)  # 204: no favicon, and no console noise
                for name, value in {"Content-Type": "text/html; charset=utf-8", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def page(self, path: str, body: str, policy: str | None = None) -> str:
        html = f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Support</title></head>' \
               f"<body><h1>Our support</h1>\n{body}\n</body></html>"
        self.pages[path] = (html, {"Content-Security-Policy": policy} if policy else {})
        return self.url + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
