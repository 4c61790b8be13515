"""Duplicate loan ids in a file: only the first occurrence counts, across chunk boundaries."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from carbon.services.bulk import first_occurrences

ids = st.lists(st.sampled_from(["L1", "L2", "L3", "Ä-4", "贷款5", ""]), max_size=30)


def oracle(chunks: list[list[str]]) -> list[bool]:
    seen: set[str] = set()
    marks = []
    for value in (value for chunk in chunks for value in chunk):
        marks.append(value not in seen)
        seen.add(value)
    return marks


@given(st.lists(ids, max_size=5))
def test_first_occurrences_agrees_with_a_set_of_seen_ids(chunks: list[list[str]]) -> None:
    arrays = [pa.array(chunk, pa.string()) for chunk in chunks]
    assert first_occurrences(arrays).tolist() == oracle(chunks)


def test_a_repeat_in_a_later_chunk_is_not_first() -> None:
    marks = first_occurrences([pa.array(["B", "A"]), pa.array(["C", "A", "B", "D"])])
    assert marks.tolist() == [True, True, True, False, False, True]


def test_no_chunks_mark_nothing() -> None:
    assert first_occurrences([]).size == 0
