"""Fetching attachments: plain (mxc://) and encrypted (the `file` block of an E2EE event).

Used by the screenshot rule and the archive. Downloads are size-limited before they are
read into memory; encrypted attachments are decrypted with nio's attachment helper, which
also checks the SHA-256 the sender put in the event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nio.crypto.attachments import decrypt_attachment

from appservice.core.events import Event
from appservice.matrix.client import TOO_LARGE, MatrixClient, MatrixError

DEFAULT_MAX_BYTES = 25 * 1024 * 1024


class MediaError(Exception):
    """Not downloadable or not decryptable; `reason` is a short code for logs and audit."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Attachment:
    data: bytes
    filename: str | None
    mimetype: str | None
    info: dict[str, Any]
    encrypted: bool


def attachment_ref(event: Event) -> tuple[str, dict[str, Any] | None] | None:
    """(mxc url, encrypted-file block or None) for an image/file/video/audio message."""
    content = event.content
    file_block = content.get("file")
    if isinstance(file_block, dict) and isinstance(file_block.get("url"), str):
        return file_block["url"], file_block
    url = content.get("url")
    if isinstance(url, str) and url.startswith("mxc://"):
        return url, None
    return None


async def download(client: MatrixClient, event: Event, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Attachment:
    ref = attachment_ref(event)
    if ref is None:
        raise MediaError("no_attachment")
    url, file_block = ref
    if not url.startswith("mxc://") or url.count("/") != 3:
        raise MediaError("bad_mxc")
    server, media_id = url[len("mxc://"):].split("/", 1)
    raw_info = event.content.get("info")
    info: dict[str, Any] = raw_info if isinstance(raw_info, dict) else {}
    data = await _fetch(client, server, media_id, max_bytes)
    if file_block is not None:
        try:
            data = decrypt_attachment(data, file_block["key"]["k"], file_block["hashes"]["sha256"],
                                      file_block["iv"])
        except Exception as exc:  # missing keys, bad base64, wrong hash: all "cannot decrypt"
            raise MediaError(f"decrypt_failed:{type(exc).__name__}") from None
    filename = event.content.get("filename") or event.content.get("body")
    return Attachment(data=data, filename=filename if isinstance(filename, str) else None,
                      mimetype=info.get("mimetype") if isinstance(info.get("mimetype"), str) else None,
                      info=info, encrypted=file_block is not None)


async def _fetch(client: MatrixClient, server: str, media_id: str, max_bytes: int) -> bytes:
    """client.download, its failures as MediaError reasons: http_<status>, too_large, network:<error>."""
    try:
        return await client.download(server, media_id, max_bytes)
    except MatrixError as exc:
        if exc.errcode == TOO_LARGE:
            raise MediaError("too_large") from None
        if exc.errcode == "M_CONNECTION":
            raise MediaError(f"network:{exc.error}") from None
        raise MediaError(f"http_{exc.status}") from None
