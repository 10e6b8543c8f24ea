"""Browser tests: the `make run` web client (Hydrogen) in Debian's Chromium, driven by playwright,
against the same real Synapse + Yakuba as the integration tests.

Needs /usr/bin/chromium, node/npm (to build the client once) and the `playwright` package —
never playwright's own browser download. `.ci/run` installs them; a developer machine without
them skips these tests with the reason, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("YAKUBA_CHROMIUM", "/usr/bin/chromium")


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not found (apt-get install chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "python package playwright not installed"
    if shutil.which("npm") is None:
        return "node/npm not installed (the web client is built with npm)"
    return None


@pytest.fixture(scope="session")
def web_client(homeserver) -> Iterator[str]:
    """The web client `make run` serves, built once, pointed at the test homeserver; its URL."""
    missing = _missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run: {missing}")
        pytest.skip(f"browser tests skipped: {missing}")
    from appservice.app.devstack import webclient
    from tests.stack import free_port

    dist = webclient.build()
    if dist is None:
        pytest.fail("the web client did not build (see the output above)")
    loop = asyncio.new_event_loop()
    client = webclient.WebClient(dist, homeserver.url, port=free_port())
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(client.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name="web-client", daemon=True)
    thread.start()
    assert started.wait(30), "web client did not start"
    try:
        yield client.url
    finally:
        asyncio.run_coroutine_threadsafe(client.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@pytest.fixture
async def browser(web_client: str) -> AsyncIterator:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=["--disable-dev-shm-usage"])
        try:
            yield b
        finally:
            await b.close()
