"""Screenshots posted to chat, on the real Synapse: plain and encrypted rooms."""

from __future__ import annotations

import random
import re

import aiohttp
import pytest
from nio.crypto.attachments import encrypt_attachment

from tests.images.generate import camera_exif, jpeg, photo_image, png, ui_image
from tests.integration.admin_room import BOT, admin_client
from tests.integration.e2ee import E2EEUser
from tests.integration.mx import User, wait_for
from tests.integration.test_pii import _find_body

pytestmark = pytest.mark.integration


def screenshot_png() -> bytes:
    return png(ui_image(1170, 2532, random.Random(7)))


def camera_jpeg() -> bytes:
    rng = random.Random(3)
    return jpeg(photo_image(1600, 1200, rng), exif=camera_exif(rng))


async def upload(user: User, data: bytes, mimetype: str, filename: str) -> str:
    async with aiohttp.ClientSession() as s, s.post(
            f"{user.hs_url}/_matrix/media/v3/upload", params={"filename": filename}, data=data,
            headers={"Authorization": f"Bearer {user.token}", "Content-Type": mimetype}) as r:
        assert r.status == 200, await r.text()
        return (await r.json())["content_uri"]


def analysed(yakuba, event_id: str) -> bool:
    return bool(yakuba.query("SELECT 1 FROM inbox WHERE event_id = ? AND status = 'done'", (event_id,)))


async def test_screenshot_in_plain_room_warns_sender_and_tells_admins(yakuba, homeserver):
    admin, admin_room = await admin_client(yakuba, homeserver)
    try:
        alice = await User.login(homeserver.url, "alice")
        room = await alice.create_room(name="窓口")
        data = screenshot_png()
        name = "スクリーンショット 2026-11-25 10.15.02.png"
        mxc = await upload(alice, data, "image/png", name)
        ev = await alice.send(room, "m.room.message", {
            "msgtype": "m.image", "body": name, "url": mxc,
            "info": {"mimetype": "image/png", "w": 1170, "h": 2532, "size": len(data)}})
        body = await wait_for(lambda: _find_body(yakuba, alice, ev), timeout=30, what="screenshot warning")
        assert "スクリーンショット" in body and "✅" in body
        notice = await wait_for(lambda: next((t for t in admin.texts_from(BOT, admin_room)
                                              if "📷" in t and ev in t), None), timeout=20, what="admin notice")
        assert re.search(r"filename|screen|exif", notice)  # the signals are named
        assert mxc not in notice  # never the image itself
    finally:
        await admin.close()


async def test_camera_photo_is_not_flagged(yakuba, homeserver):
    alice = await User.login(homeserver.url, "alice")
    room = await alice.create_room()
    data = camera_jpeg()
    mxc = await upload(alice, data, "image/jpeg", "IMG_2041.JPG")
    ev = await alice.send(room, "m.room.message", {"msgtype": "m.image", "body": "IMG_2041.JPG", "url": mxc,
                                                   "info": {"mimetype": "image/jpeg", "w": 1600, "h": 1200}})
    await wait_for(lambda: analysed(yakuba, ev), timeout=20)
    await wait_for(lambda: yakuba.query("SELECT 1 FROM once_keys WHERE key = ?", (f"shot:{ev}",)), timeout=20)
    await wait_for(lambda: "image_analysed" in yakuba.log_tail(400) and ev in yakuba.log_tail(400), timeout=20)
    assert yakuba.query("SELECT 1 FROM audit WHERE action = 'screenshot_detected' AND event_id = ?", (ev,)) == []


async def test_hostile_image_is_refused_and_pipeline_goes_on(yakuba, homeserver):
    alice = await User.login(homeserver.url, "alice")
    room = await alice.create_room()
    mxc = await upload(alice, b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "image/png", "Screenshot.png")
    bad = await alice.send(room, "m.room.message", {"msgtype": "m.image", "body": "Screenshot.png", "url": mxc})
    after = await alice.send_text(room, "次の連絡")
    await wait_for(lambda: yakuba.query("SELECT result FROM audit WHERE action = 'image_not_analysed' "
                                        "AND event_id = ?", (bad,)), timeout=20, what="refusal audit")
    await wait_for(lambda: analysed(yakuba, after), timeout=20)


async def test_screenshot_in_encrypted_room_warns(yakuba, homeserver):
    alice = await E2EEUser(homeserver.url, "alice", homeserver.server_name).start()
    plain_alice = await User.login(homeserver.url, "alice")
    try:
        room = await alice.create_encrypted_room([BOT], name="暗号化・窓口")
        await alice.wait_member(room, BOT)
        data = screenshot_png()
        ciphertext, keys = encrypt_attachment(data)
        mxc = await upload(plain_alice, ciphertext, "application/octet-stream", "Screenshot 2026-11-25.png")
        ev = await alice.send(room, "m.room.message", {
            "msgtype": "m.image", "body": "Screenshot 2026-11-25 at 10.15.02.png",
            "info": {"mimetype": "image/png", "w": 1170, "h": 2532},
            "file": {"url": mxc, **keys, "mimetype": "image/png"}})
        body = await wait_for(lambda: _find_body(yakuba, plain_alice, ev), timeout=30, what="warning (encrypted)")
        assert "✅" in body
    finally:
        await alice.close()
