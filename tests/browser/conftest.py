"""Serve the built book on localhost and drive it with Debian's Chromium, the network cut.

pytest-playwright provides the `browser`, `context` and `page` fixtures; the overrides here point it at
/usr/bin/chromium (Playwright's own browser download cannot run here) and route every request: one
for this server goes through, any other is aborted and recorded, so a test can assert there were none.
"""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from booktoc import ROOT

HTML = ROOT / "_build" / "html"
CHROMIUM = Path("/usr/bin/chromium")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output readable
        pass


@pytest.fixture(scope="session")
def book_url():
    if not (HTML / "index.html").exists():
        pytest.fail(f"the book is not built ({HTML} is missing): run `make book` first", pytrace=False)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(HTML)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing at /usr/bin/chromium: run `make setup` or `apt-get install chromium`", pytrace=False)  # noqa: E501
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-gpu"],
    }


@pytest.fixture
def offsite_requests(context, book_url):
    """Abort and record every request that is not for the local book server."""
    host = urlsplit(book_url).netloc
    blocked: list[str] = []

    def route(route):
        url = route.request.url
        if urlsplit(url).netloc == host or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    context.route("**/*", route)
    return blocked


@pytest.fixture
def page_log(page, offsite_requests):
    """Console errors, uncaught exceptions and failed requests seen by `page`."""
    log = {"errors": [], "failed": [], "offsite": offsite_requests}
    page.on("console", lambda m: log["errors"].append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: log["errors"].append(f"uncaught: {e}"))
    page.on("requestfailed", lambda r: log["failed"].append(f"{r.url} ({r.failure})"))
    page.on("response", lambda r: log["failed"].append(f"{r.url} (HTTP {r.status})") if r.status >= 400 else None)
    return log
