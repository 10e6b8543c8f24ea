"""Benchmark the PII scanner against a naive baseline on a realistic chat corpus.

    python bench/bench_pii.py [--messages N]

Corpus: 200-character Japanese staff-chat messages, ~5 % with an identifier, fixed seed
(tests/pii_corpus/generator.py). Prints throughput (MB/s of UTF-8 input and Mchars/s) and
per-message latency p50/p99 for scan() and for a naive baseline (one re.search per kind, no
normalisation, no check digits), and their ratio. Print-only: nothing here asserts on timing.
"""

from __future__ import annotations

import argparse
import gc
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from appservice.lib.pii import scan  # noqa: E402
from tests.pii_corpus.generator import chat_messages  # noqa: E402

# What a first attempt looks like: one pattern per kind, run on every message.
NAIVE = [
    re.compile(p)
    for p in (
        r"\d{4}[- ]?\d{4}[- ]?\d{4}",  # my number
        r"\d{13}",  # corporate number
        r"0\d{1,4}-\d{1,4}-\d{3,4}",  # phone
        r"[\w.+-]+@[\w-]+\.[\w.-]+",  # email
        r"\d{4}[- ]?\d{4}[- ]?\d{4}[- ]?\d{4}",  # card
        r"口座.{0,10}\d{7}",  # bank account
        r"[A-Z]{2}\d{7}",  # passport
        r"[A-Z]{2}\d{8}[A-Z]{2}",  # residence card
        r"免許.{0,10}\d{12}",  # driver's licence
        r"\d{4}-\d{6}",  # pension
        r"保険者番号.{0,5}\d{6,8}",  # health insurance
        r"生年月日.{0,5}\d{4}年",  # birth date
        r"〒?\d{3}-\d{4}",  # postal code
    )
]


def naive(text: str) -> list[tuple[int, int]]:
    out = []
    for p in NAIVE:
        m = p.search(text)
        if m is not None:
            out.append(m.span())
    return out


def measure(fn: Callable[[str], object], msgs: list[str], nbytes: int, nchars: int,
            rounds: int) -> dict[str, float]:
    gc.collect()
    gc.disable()
    try:
        # Throughput: the whole corpus in a tight loop, best of `rounds`.
        best = float("inf")
        for _ in range(rounds):
            t0 = time.perf_counter()
            for m in msgs:
                fn(m)
            best = min(best, time.perf_counter() - t0)
        # Latency: each message timed on its own.
        lat = []
        clock = time.perf_counter_ns
        for m in msgs:
            t0 = clock()
            fn(m)
            lat.append(clock() - t0)
    finally:
        gc.enable()
    lat.sort()
    return {
        "mb_s": nbytes / best / 1e6,
        "mchars_s": nchars / best / 1e6,
        "p50_us": lat[len(lat) // 2] / 1000,
        "p99_us": lat[int(len(lat) * 0.99)] / 1000,
        "max_us": lat[-1] / 1000,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    msgs = chat_messages(n=args.messages)
    nbytes = sum(len(m.encode("utf-8", "surrogatepass")) for m in msgs)
    nchars = sum(len(m) for m in msgs)
    with_pii = sum(1 for m in msgs if scan(m))  # also warms caches
    print(f"corpus: {len(msgs)} messages, {nchars / len(msgs):.0f} chars each, "
          f"{nbytes / 1e6:.2f} MB UTF-8; scan() flags {with_pii / len(msgs):.1%} of them")

    results = {}
    for name, fn in (("scan()", scan), ("naive baseline", naive)):
        r = measure(fn, msgs, nbytes, nchars, args.rounds)
        results[name] = r
        print(f"{name:15} {r['mb_s']:7.1f} MB/s  {r['mchars_s']:6.2f} Mchars/s  "
              f"p50 {r['p50_us']:6.1f} µs  p99 {r['p99_us']:6.1f} µs  max {r['max_us']:7.1f} µs")
    s, n = results["scan()"], results["naive baseline"]
    print(f"scan() / naive: throughput x{s['mb_s'] / n['mb_s']:.2f}, "
          f"p99 x{s['p99_us'] / n['p99_us']:.2f} (higher throughput, lower p99 = better)")
    print("targets: >= 20 MB/s, p99 < 200 µs per 200-char message (one core)")


if __name__ == "__main__":
    main()
