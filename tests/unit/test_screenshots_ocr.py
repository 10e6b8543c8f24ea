"""OCR path: Tesseract (jpn+eng) text goes through appservice.lib.pii.scan; only counts come back."""

from __future__ import annotations

import importlib
import io
import shutil
import sys
from functools import cache

import pytest
import structlog
from PIL import Image

from appservice.lib.screenshots import ImageLimits, analyze
from appservice.lib.screenshots import ocr as ocr_mod
from tests.images import generate as gen

HAS_TESSERACT = shutil.which("tesseract") is not None
needs_tesseract = pytest.mark.skipif(
    not HAS_TESSERACT, reason="tesseract not installed (apt-get install tesseract-ocr-jpn)"
)
needs_font = pytest.mark.skipif(
    not gen.NOTO_CJK.exists(), reason="Noto CJK font missing (apt-get install fonts-noto-cjk)"
)


def _pii_importable() -> str | None:
    try:
        importlib.import_module("appservice.lib.pii")
    except ImportError as exc:
        return f"appservice.lib.pii not importable yet ({exc})"
    return None


@cache
def _form_png(width: int = 1170, height: int = 2532, size: int = 48) -> bytes:
    return gen.png(gen.form_image(width, height, size))


def _form(width: int = 1170, height: int = 2532, size: int = 48) -> Image.Image:
    return Image.open(io.BytesIO(_form_png(width, height, size)))


@needs_tesseract
@needs_font
def test_ocr_finds_phone_and_my_number() -> None:
    reason = _pii_importable()
    if reason:
        pytest.skip(reason)
    with structlog.testing.capture_logs() as logs:
        v = analyze(_form_png(), filename="IMG_0001.PNG", info=None, ocr=True)
    assert v.ocr_error is None
    kinds = dict(v.ocr_findings)
    assert kinds.get("phone", 0) >= 1
    assert kinds.get("my_number", 0) >= 1
    # Counts only: the recognised text appears neither in the verdict nor in the logs.
    for secret in ("090-1234-5678", "9018", "山田"):
        assert secret not in repr(v)
        assert secret not in repr(logs)


@needs_tesseract
@needs_font
@pytest.mark.parametrize("size", [(1170, 2532, 48), (1920, 1080, 16), (800, 400, 20)])
def test_tesseract_reads_japanese_and_digits(size: tuple[int, int, int]) -> None:
    # Independent of the PII scanner: checks our preprocessing and CJK space joining.
    im = _form(*size)
    text, error = ocr_mod.extract_text(im, ImageLimits())
    assert error is None and text is not None
    assert "090-1234-5678" in text
    assert "1234 5678 9018" in text
    assert "マイナンバー" in text  # jpn model output with inter-character spaces removed


def test_missing_tesseract_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ocr_mod.shutil, "which", lambda _name: None)
    v = analyze(_form_png(), filename=None, info=None, ocr=True)
    assert v.ocr_error == "tesseract_not_installed"
    assert v.ocr_findings == ()
    assert v.score == analyze(_form_png(), filename=None, info=None).score


@needs_tesseract
def test_missing_pii_scanner_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "appservice.lib.pii", None)  # import now fails
    v = analyze(_form_png(), filename=None, info=None, ocr=True)
    assert v.ocr_error == "pii_scanner_unavailable"


@needs_tesseract
def test_ocr_timeout_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    im = _form()
    text, error = ocr_mod.extract_text(im, ImageLimits(ocr_timeout_s=0.001))
    assert (text, error) == (None, "timeout")


def test_ocr_input_is_bounded_by_ocr_max_pixels() -> None:
    big = Image.new("RGB", (4000, 3000), "white")
    prepared = ocr_mod._prepare(big, 1_000_000)
    assert prepared.mode == "L"
    assert prepared.width * prepared.height <= 1_000_000
    small = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    up = ocr_mod._prepare(small, 12_000_000)
    assert up.size == (600, 400)  # small crops are upscaled for Tesseract
    assert up.getpixel((0, 0)) == 255  # transparency composited on white


def test_cjk_spaces_are_joined_but_latin_spaces_kept() -> None:
    assert ocr_mod._CJK_GAP.sub("", "マ イ ナ ン バ ー 1234 5678 9018") == (
        "マイナンバー 1234 5678 9018"
    )
