"""Time the screenshot analyser per image: heuristics alone, and with OCR when Tesseract exists.

    python bench/bench_screenshots.py

Prints a table; asserts nothing about time (machines differ). Finishes in well under a minute.
"""

from __future__ import annotations

import logging
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import structlog

from appservice.lib.screenshots import ImageLimits, ImageRefused, analyze
from tests.images import generate as gen

HEURISTIC_RUNS = 5
OCR_RUNS = 1


def _images() -> list[tuple[str, bytes]]:
    rng = random.Random(7)
    return [
        ("icon 64x64 PNG", gen.png(gen.logo_image(64, 64, rng))),
        ("phone 1170x2532 PNG", gen.png(gen.ui_image(1170, 2532, rng))),
        ("form with PII 1170x2532 PNG", gen.png(gen.form_image())),
        ("phone 1440x3200 PNG+photo", gen.png(gen.ui_image(1440, 3200, rng, photo=True))),
        ("desktop 1920x1080 PNG", gen.png(gen.ui_image(1920, 1080, rng))),
        ("desktop 3840x2160 PNG", gen.png(gen.ui_image(3840, 2160, rng))),
        (
            "camera 4032x3024 JPEG",
            gen.jpeg(gen.photo_image(4032, 3024, rng), exif=gen.camera_exif(rng)),
        ),
        ("scan A4 2480x3508 PNG", gen.png(gen.scan_image(2480, 3508, rng, text=True))),
        ("scan A4 2480x3508 JPEG", gen.jpeg(gen.scan_image(2480, 3508, rng, text=True))),
        ("big 7000x5500 PNG (38.5 Mpx)", gen.png(gen.diagram_image(7000, 5500, rng))),
        ("bomb 30000x30000 PNG", gen.png_bomb()),
    ]


def _time(data: bytes, *, ocr: bool, runs: int) -> tuple[float, str]:
    times, note = [], ""
    for _ in range(runs):
        start = time.perf_counter()
        try:
            v = analyze(data, filename=None, info=None, ocr=ocr)
            note = f"score={v.score:.2f}"
            if ocr:
                note += f" ocr={dict(v.ocr_findings) or '-'} err={v.ocr_error or '-'}"
        except ImageRefused as exc:
            note = f"refused {exc.reason_code}"
        times.append(time.perf_counter() - start)
    return statistics.median(times), note


def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    has_ocr = shutil.which("tesseract") is not None
    t0 = time.perf_counter()
    images = _images()
    print(f"generated {len(images)} images in {time.perf_counter() - t0:.1f} s")
    print(f"limits: {ImageLimits()}")
    print(f"{'image':32} {'KiB':>7} {'heuristics':>11} {'with OCR':>9}  result")
    for label, data in images:
        heur, note = _time(data, ocr=False, runs=HEURISTIC_RUNS)
        ocr_col = "n/a"
        if has_ocr:
            with_ocr, note = _time(data, ocr=True, runs=OCR_RUNS)
            ocr_col = f"{with_ocr * 1000:7.0f}ms"
        print(f"{label:32} {len(data) // 1024:7} {heur * 1000:9.1f}ms {ocr_col:>9}  {note}")
    if not has_ocr:
        print("tesseract not installed: OCR column skipped (apt-get install tesseract-ocr-jpn)")
    print(f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
