"""Exports delivered to the admin room as a file.

`POST /_matrix/media/v3/upload` with the as_token acting as `@_yakuba`. The admin room is
normally encrypted, and a plaintext upload there would put a disclosure export on the media
repository in the clear: so in an encrypted room the file is encrypted first
(`nio.crypto.attachments.encrypt_attachment`, AES-CTR + SHA-256, the standard Matrix scheme),
the ciphertext is uploaded, and the key travels only inside the `file` block of an `m.file`
event that the bot's E2EE device sends encrypted (`services.sender.send`).
"""

from __future__ import annotations

from typing import Any

import aiohttp
from nio.crypto.attachments import encrypt_attachment

from appservice.core.services import Services
from appservice.matrix.client import MatrixClient, MatrixError

MIMETYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson", "html": "text/html; charset=utf-8"}


async def upload(client: MatrixClient, data: bytes, content_type: str, filename: str) -> str:
    """Upload bytes as the bot (client.sender); returns the mxc:// URI."""
    sess = await client._sess()
    params = {"filename": filename}
    if client.sender != client.as_sender:
        params["user_id"] = client.sender
    headers = {"Authorization": f"Bearer {client._token}", "Content-Type": content_type}
    path = "/_matrix/media/v3/upload"
    try:
        async with sess.post(client.base_url + path, data=data, params=params, headers=headers) as resp:
            body: Any = await resp.json(content_type=None)
            if resp.status >= 400 or not isinstance(body, dict) or "content_uri" not in body:
                b = body if isinstance(body, dict) else {}
                raise MatrixError(resp.status, b.get("errcode"), b.get("error"), "POST", path)
            return str(body["content_uri"])
    except aiohttp.ClientError as exc:
        raise MatrixError(0, "M_CONNECTION", type(exc).__name__, "POST", path) from None


async def send_file(svc: Services, room_id: str, data: bytes, filename: str, mimetype: str,
                    txn_id: str) -> str:
    """Send `data` as an m.file into `room_id`, encrypted if the room is; returns the event id."""
    info = {"mimetype": mimetype.split(";")[0], "size": len(data)}
    content: dict[str, Any] = {"msgtype": "m.file", "body": filename, "filename": filename, "info": info}
    if await svc.sender.is_encrypted(room_id):
        ciphertext, keys = encrypt_attachment(data)
        url = await upload(svc.client, ciphertext, "application/octet-stream", "encrypted.bin")
        content["file"] = {"url": url, **keys}
    else:
        content["url"] = await upload(svc.client, data, mimetype, filename)
    return await svc.sender.send(room_id, content, txn_id)
