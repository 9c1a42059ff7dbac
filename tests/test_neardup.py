"""Near-duplicate clusters: syndicated copies group, distinct stories never do."""

import unicodedata

import pytest

from core.models import Extracted
from storage.articles import store_article
from storage.neardup import (
    NUM_PERM,
    THRESHOLD,
    cluster_members,
    estimate,
    signature,
    similarity,
)
from storage.schema import open_db
from testsupport.neardup_cases import load_stories, pairs, syndicated_copies


@pytest.fixture(scope="module")
def stories():
    found = load_stories()
    if len(found) < 20:
        pytest.skip(f"only {len(found)} base stories available")
    return found


def test_signatures_are_datasketchs_minhash_value_for_value(stories):
    """storage.neardup computes datasketch's MinHash (2.x, affine32, SHA-1) itself, to
    spare every process datasketch's scipy import; stored signatures depend on them
    being the same values."""
    from datasketch import MinHash

    from storage.neardup import _SEED, shingles

    texts = [s.text for s in stories[:40]] + ["", "một hai", "Ủy ban Quốc gia về chuyển đổi số",
                                              "a b c d e f g h i j k l m n o p"]
    for text in texts:
        reference = MinHash(num_perm=NUM_PERM, seed=_SEED)  # the default scheme: affine32
        grams = shingles(text)
        if grams:
            reference.update_batch(list(grams))
        ours = signature(text)
        assert ours.dtype.name == "uint32" and len(ours) == NUM_PERM
        assert (ours == reference.hashvalues.astype("uint32")).all(), text[:60]


def test_pair_scores_on_the_test_set(stories):
    """Floors: no distinct pair merged (precision 1.0), 95 % of copies found.

    Each distinct text's signature is computed once (~725 texts, not ~11k pair sides):
    ``similarity`` is ``estimate`` of the two signatures, checked on a sample below."""
    cache: dict[str, object] = {}

    def sig(text):
        if text not in cache:
            cache[text] = signature(text)
        return cache[text]

    tp = fp = fn = 0
    worst_copy, best_distinct = 1.0, 0.0
    for i, (a, b, same) in enumerate(pairs(stories)):
        score = estimate(sig(a), sig(b))
        if i % 997 == 0:  # a sample of pairs, copies and distinct, through the public API
            assert similarity(a, b) == score
        merged = score >= THRESHOLD
        tp += same and merged
        fp += (not same) and merged
        fn += same and not merged
        if same:
            worst_copy = min(worst_copy, score)
        else:
            best_distinct = max(best_distinct, score)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn)
    summary = (f"precision {precision:.3f} recall {recall:.3f} (copies >= {worst_copy:.2f}, "
               f"distinct <= {best_distinct:.2f}, threshold {THRESHOLD})")
    assert precision == 1.0, summary
    assert recall >= 0.95, summary


def test_copies_cluster_in_the_archive_and_distinct_stories_do_not(tmp_path, stories):
    db = open_db(tmp_path / "a.db")

    def put(url, text):
        return store_article(db, "s", Extracted(url=url, canonical_url=url, title=url,
                                                text=text)).article_id

    first = put("http://127.0.0.1/1", stories[0].text)
    copies = [put(f"http://127.0.0.1/1-copy-{i}", text)
              for i, text in enumerate(syndicated_copies(stories[0]))]
    other = put("http://127.0.0.1/2", stories[1].text)
    members = {m["id"] for m in cluster_members(db, first)}
    assert set(copies) <= members and other not in members
    # NFC and decomposed copies of one text are the same article (exact duplicate)
    nfd = unicodedata.normalize("NFD", stories[2].text).replace("Ủy", "Uỷ")
    a = store_article(db, "s", Extracted(url="http://127.0.0.1/3", canonical_url=
                      "http://127.0.0.1/3", title="t", text=stories[2].text))
    b = store_article(db, "s", Extracted(url="http://127.0.0.1/4", canonical_url=
                      "http://127.0.0.1/4", title="t", text=nfd))
    assert (b.article_id, b.outcome) == (a.article_id, "alias")
