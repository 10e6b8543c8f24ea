"""Hostile and invalid input: every case ends in ImageRefused with its reason code, quickly."""

from __future__ import annotations

import random
import time
from functools import cache

import pytest
from PIL import Image

from appservice.lib.screenshots import REASON_CODES, ImageLimits, ImageRefused, analyze
from tests.images import generate as gen

FAST_S = 1.0


@cache
def _ui_png() -> bytes:
    return gen.png(gen.ui_image(1080, 2400, random.Random(7)))


@cache
def _photo_jpeg() -> bytes:
    return gen.jpeg(gen.photo_image(1600, 1200, random.Random(7)))


@cache
def _bomb() -> bytes:
    return gen.png_bomb(30_000)


CASES: dict[str, tuple[object, str]] = {
    # name: (bytes factory, expected reason)
    "png-bomb-30000x30000": (_bomb, "decompression_bomb"),
    "png-declares-100000x100000": (
        lambda: gen.png_header_only(100_000, 100_000),
        "decompression_bomb",
    ),
    "jpeg-declares-65000x65000": (
        lambda: gen.jpeg_header_only(65_000, 65_000),
        "decompression_bomb",
    ),
    "png-ztxt-bomb": (gen.png_ztxt_bomb, "decompression_bomb"),
    "gif-frame-larger-than-screen": (gen.gif_oversized_frame, "decompression_bomb"),
    "truncated-png": (lambda: _ui_png()[: len(_ui_png()) // 2], "truncated"),
    "truncated-jpeg": (lambda: _photo_jpeg()[: len(_photo_jpeg()) // 2], "truncated"),
    "png-cut-in-header": (lambda: _ui_png()[:20], "truncated"),
    "jpeg-cut-before-frame": (lambda: _photo_jpeg()[:100], "truncated"),
    "random-bytes": (lambda: random.Random(1).randbytes(50_000), "not_an_image"),
    "zero-bytes": (lambda: b"", "not_an_image"),
    "all-zero-bytes": (lambda: bytes(4096), "not_an_image"),
    "text-file": (lambda: "マイナンバー 1234 5678 9018".encode(), "not_an_image"),
    "pdf": (lambda: b"%PDF-1.7\n" + bytes(100), "not_an_image"),
    "svg": (lambda: b'<svg xmlns="http://www.w3.org/2000/svg"/>', "not_an_image"),
    "png-magic-only": (lambda: b"\x89PNG\r\n\x1a\n", "truncated"),
    "png-zero-size": (lambda: gen.png_header_only(0, 0), "not_an_image"),
    "tiff": (lambda: b"II*\x00" + bytes(100), "unsupported_format"),
    "heic": (lambda: b"\x00\x00\x00\x18ftypheic" + bytes(100), "unsupported_format"),
    "jpeg-many-segments": (lambda: b"\xff\xd8" + b"\xff\xfe\x00\x02" * 500_000, "not_an_image"),
}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_hostile_input_is_refused_quickly(case: str) -> None:
    factory, reason = CASES[case]
    data = factory()  # type: ignore[operator]
    start = time.perf_counter()
    with pytest.raises(ImageRefused) as exc:
        analyze(data, filename="Screenshot.png", info={"mimetype": "image/png"})
    elapsed = time.perf_counter() - start
    assert exc.value.reason_code == reason, exc.value.detail
    assert exc.value.reason_code in REASON_CODES
    assert elapsed < FAST_S, f"{case} took {elapsed:.2f} s"


def test_bomb_file_is_small() -> None:
    assert len(_bomb()) < 200_000


def test_pillow_global_guard_is_not_relied_upon(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # someone disabled it process-wide
    with pytest.raises(ImageRefused) as exc:
        analyze(_bomb(), filename=None, info=None)
    assert exc.value.reason_code == "decompression_bomb"


def test_too_many_pixels_for_an_honest_big_image() -> None:
    with pytest.raises(ImageRefused) as exc:
        analyze(_photo_jpeg(), filename=None, info=None, limits=ImageLimits(max_pixels=1_000_000))
    assert exc.value.reason_code == "too_many_pixels"


def test_too_large_bytes_is_checked_first() -> None:
    with pytest.raises(ImageRefused) as exc:
        analyze(b"x" * 2000, filename=None, info=None, limits=ImageLimits(max_bytes=1000))
    assert exc.value.reason_code == "too_large_bytes"


@pytest.mark.parametrize("value", ["a string", None, 42, ["x"]])
def test_non_bytes_input(value: object) -> None:
    with pytest.raises(ImageRefused) as exc:
        analyze(value, filename=None, info=None)  # type: ignore[arg-type]
    assert exc.value.reason_code == "not_an_image"


def test_bytes_like_input_is_accepted() -> None:
    data = _ui_png()
    for view in (bytearray(data), memoryview(data)):
        assert analyze(view, filename=None, info=None).format == "PNG"  # type: ignore[arg-type]


def test_wrong_mimetype_is_not_a_refusal() -> None:
    v = analyze(_photo_jpeg(), filename="a.png", info={"mimetype": "image/png"})
    assert v.format == "JPEG"
    assert "mimetype_mismatch" in {s.name for s in v.signals}


@cache
def _seeds() -> list[bytes]:
    rng = random.Random(11)
    small_ui = gen.ui_image(180, 320, rng)
    return [
        gen.png(small_ui),
        gen.jpeg(small_ui, exif=gen.camera_exif(rng)),
        gen.encode(small_ui.convert("P"), "GIF"),
        gen.encode(small_ui, "WEBP"),
        gen.encode(small_ui, "BMP"),
        gen.png(small_ui, xmp=gen.IOS_XMP),
    ]


# Pillow warns about malformed EXIF in mutated files; that is expected noise, not a failure.
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_mutation_fuzz_only_ever_raises_image_refused() -> None:
    rng = random.Random(12345)
    outcomes = {"verdict": 0, "refused": 0}
    for i in range(600):
        data = bytearray(rng.choice(_seeds()))
        for _ in range(rng.randint(1, 8)):
            op = rng.random()
            pos = rng.randrange(len(data))
            if op < 0.6:
                data[pos] = rng.randrange(256)
            elif op < 0.8:
                del data[pos : pos + rng.randint(1, 64)]
            else:
                data[pos:pos] = rng.randbytes(rng.randint(1, 64))
        start = time.perf_counter()
        try:
            analyze(bytes(data), filename=None, info=None)
            outcomes["verdict"] += 1
        except ImageRefused as exc:
            assert exc.reason_code in REASON_CODES
            outcomes["refused"] += 1
        assert time.perf_counter() - start < FAST_S, f"iteration {i} too slow"
    assert outcomes["verdict"] and outcomes["refused"]
