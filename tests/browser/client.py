"""A person at a web client: Hydrogen (the `make run` build) in Debian's Chromium, by playwright.

Each person gets a fresh browser context (own storage, own E2EE device). Selectors are
Hydrogen 0.3.1's (see ../shared/notes/client-facts.md). Every `shot()` is a PNG under
build/browser-screenshots/ (kept, whatever the result); `YAKUBA_DOCS_SCREENSHOTS=1` also
writes small copies of the ones the docs show to docs/images/ (`make docs-screenshots`).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from playwright.async_api import Browser, Locator, Page
from playwright.async_api import expect as pw_expect

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("YAKUBA_SCREENSHOT_DIR") or ROOT / "build" / "browser-screenshots")
DOCS_IMAGES = ROOT / "docs" / "images"
PHONE = {"width": 390, "height": 760}  # a phone-width screen: every message must fit it
TIMEOUT_MS = 30_000


def shot_path(name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS / f"{name}.png"


def save_small(src: Path, dst: Path) -> None:
    """A docs copy of a screenshot: 128 colours, optimised (a chat screen needs no more)."""
    from PIL import Image

    dst.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(src) as img:
        img.convert("RGB").quantize(colors=128, dither=Image.Dither.NONE).save(dst, optimize=True)


@dataclass
class Person:
    page: Page
    user: str

    @classmethod
    async def login(cls, browser: Browser, web_url: str, user: str, password: str) -> Person:
        context = await browser.new_context(viewport=PHONE, locale="ja-JP", timezone_id="Asia/Tokyo",
                                            accept_downloads=True)
        context.set_default_timeout(TIMEOUT_MS)
        page = await context.new_page()
        await page.goto(web_url)
        await page.fill("#username", user)
        await page.fill("#password", password)
        await page.keyboard.press("Enter")
        await page.wait_for_selector(".RoomList", timeout=TIMEOUT_MS)
        return cls(page, user)

    async def close(self) -> None:
        await self.page.context.close()

    async def shot(self, name: str, *, docs: bool = False) -> Path:
        path = shot_path(name)
        await self.page.screenshot(path=str(path))
        if docs and os.environ.get("YAKUBA_DOCS_SCREENSHOTS"):
            save_small(path, DOCS_IMAGES / path.name)
        return path

    # -- rooms --------------------------------------------------------------------------------

    def room_entry(self, name: str) -> Locator:
        return self.page.locator(".RoomList li", has_text=name).first

    async def open_room(self, name: str) -> None:
        """Open a room from the room list (back to the list first on a phone-width screen);
        accept its invite if it is one."""
        list_ = self.page.locator(".RoomList")
        if not await list_.is_visible():
            await self.page.locator("a.button-utility.close-middle, .RoomHeader .close-middle").first.click()
        await self.room_entry(name).click()
        accept = self.page.locator(".InviteView_buttonRow button", has_text="Accept")
        composer = self.page.locator(".MessageComposer_input textarea")
        # Yakuba joins staff to its DM itself, so an invite may turn into a room under the click.
        for _ in range(10):
            await pw_expect(accept.or_(composer).first).to_be_visible(timeout=TIMEOUT_MS)
            if await composer.is_visible():
                return
            with suppress(Exception):
                await accept.click(timeout=3000)
        await composer.wait_for(timeout=TIMEOUT_MS)

    async def send(self, text: str) -> None:
        composer = self.page.locator(".MessageComposer_input textarea")
        await composer.fill(text)
        await composer.press("Enter")

    def message(self, text: str | re.Pattern[str]) -> Locator:
        """The last timeline message that shows `text`."""
        return self.page.locator(".Timeline_message", has_text=text).last

    async def wait_message(self, text: str | re.Pattern[str], timeout_ms: int = TIMEOUT_MS) -> Locator:
        message = self.message(text)
        await message.wait_for(timeout=timeout_ms)
        await message.scroll_into_view_if_needed()
        return message

    async def react(self, message: Locator, key: str) -> None:
        """Hover → ⋯ → the quick reactions' "…" → type the emoji into the prompt (✅ is not
        one of Hydrogen's quick reactions)."""
        await message.hover()
        await message.locator(".Timeline_messageOptions").click()
        self.page.once("dialog", lambda dialog: dialog.accept(key))
        await self.page.locator(".quick-reactions button", has_text="…").click()
        await message.locator(".Timeline_messageReactions", has_text=key).wait_for(timeout=TIMEOUT_MS)

    async def overflowing_messages(self) -> list[str]:
        """Texts of timeline messages wider than their box (they would not fit the screen)."""
        return await self.page.evaluate("""() => [...document.querySelectorAll('.Timeline_messageBody')]
            .filter(e => e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right > window.innerWidth + 1)
            .map(e => e.innerText.slice(0, 200))""")


@asynccontextmanager
async def screens_kept(name: str, *people: Person) -> AsyncIterator[None]:
    """On a failure inside, save what each person's screen showed (FAILED-<name>-<user>.png)."""
    try:
        yield
    except BaseException:
        for person in people:
            with suppress(Exception):
                await person.page.screenshot(path=str(shot_path(f"FAILED-{name}-{person.user}")))
        raise
