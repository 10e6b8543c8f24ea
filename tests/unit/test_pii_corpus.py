"""Precision and recall per kind on the labelled synthetic corpus (tests/pii_corpus).

A finding is correct when its kind matches a label's kind and the spans overlap.
"""

from __future__ import annotations

from collections import Counter

import pytest

from appservice.lib.pii import KINDS, scan
from tests.pii_corpus.generator import SEED, Sample, labelled_corpus

MIN_PRECISION = 0.97
MIN_RECALL = 0.97


def _overlap(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    return a_start < b_end and b_start < a_end


def _score(samples: list[Sample]) -> tuple[Counter[str], Counter[str], Counter[str], Counter[str]]:
    tp, fp, labelled, found = Counter(), Counter(), Counter(), Counter()
    for s in samples:
        findings = scan(s.text)
        for f in findings:
            if any(lb.kind == f.kind and _overlap(lb.start, lb.end, f.start, f.end)
                   for lb in s.labels):
                tp[f.kind] += 1
            else:
                fp[f.kind] += 1
        for lb in s.labels:
            labelled[lb.kind] += 1
            if any(f.kind == lb.kind and _overlap(lb.start, lb.end, f.start, f.end)
                   for f in findings):
                found[lb.kind] += 1
    return tp, fp, labelled, found


@pytest.fixture(scope="module", params=[SEED, 7, 2025])
def scores(request: pytest.FixtureRequest):
    return _score(labelled_corpus(seed=request.param))


@pytest.mark.parametrize("kind", KINDS)
def test_precision_and_recall_per_kind(scores, kind: str) -> None:
    tp, fp, labelled, found = scores
    assert labelled[kind] >= 150, "the corpus must exercise every kind"
    precision = tp[kind] / max(1, tp[kind] + fp[kind])
    recall = found[kind] / labelled[kind]
    assert precision >= MIN_PRECISION, (kind, precision, tp[kind], fp[kind])
    assert recall >= MIN_RECALL, (kind, recall, found[kind], labelled[kind])


def test_corpus_is_reproducible() -> None:
    a = labelled_corpus(per_kind=5, pairs=5, forms=5, negatives=20, chatter=5)
    b = labelled_corpus(per_kind=5, pairs=5, forms=5, negatives=20, chatter=5)
    assert a == b


def test_labels_point_at_values() -> None:
    for s in labelled_corpus(per_kind=20, pairs=20, forms=20, negatives=0, chatter=0):
        for lb in s.labels:
            value = s.text[lb.start : lb.end]
            assert value and value == value.strip(), (s.tag, value)


def test_hard_negatives_have_no_personal_findings() -> None:
    samples = [s for s in labelled_corpus() if s.tag.startswith("neg:")]
    assert len(samples) > 2000
    flagged = [(s.tag, s.text, [(f.kind, s.text[f.start:f.end]) for f in scan(s.text)])
               for s in samples if scan(s.text)]
    assert len(flagged) <= len(samples) * 0.005, flagged[:10]
