"""The index's fold policy (id_index.folded): a binary counter of segments per bucket, capped
at SEGMENT_ROWS_MAX rows, so the rows a new day rewrites do not grow with history."""

from __future__ import annotations

import math
import statistics

from usage_model.usage.id_index import SEGMENT_ROWS_MAX, Segment, folded


def _segment(rows: int, seq: int) -> Segment:
    return Segment(bucket=0, name=f"s{seq}", seq=seq, rows=rows, file_ids=(seq,))


def test_folds_the_newest_segments_no_larger_than_what_it_gathers():
    older, newer = _segment(400, 1), _segment(100, 2)
    assert folded([older, newer], set(), 100) == [newer]  # 400 > 100 + 100
    assert folded([older, newer], set(), 99) == []


def test_a_full_segment_is_neverfolded_unless_rows_leave_it():
    full, small, smaller = _segment(SEGMENT_ROWS_MAX, 1), _segment(100, 2), _segment(50, 3)
    assert folded([full, small, smaller], set(), 10 * SEGMENT_ROWS_MAX) == [smaller, small]
    # A stale segment (rows of a file no longer indexed) is rewritten whatever its size.
    assert folded([full, small, smaller], {full.name}, 60) == [full, smaller, small]


def _daily_rewrites(days: int, rows_per_day: int) -> list[int]:
    """Rows each day's update writes into one bucket, new rows included, over `days` days."""
    current: list[Segment] = []
    written = []
    for day in range(days):
        replaced = folded(current, set(), rows_per_day)
        rows = rows_per_day + sum(s.rows for s in replaced)
        current = [s for s in current if s not in replaced] + [_segment(rows, day)]
        written.append(rows)
    return written


def test_a_new_days_amortized_rewrite_does_not_grow_with_history():
    per_day = 15_625  # 1M new ids a day over 64 buckets
    written = _daily_rewrites(730, per_day)
    # Each row is rewritten at most once per level below the cap (log2(max / day) levels).
    bound = per_day * (math.log2(SEGMENT_ROWS_MAX / per_day) + 2)
    year_one = statistics.mean(written[100:365])
    year_two = statistics.mean(written[365:730])
    assert year_one <= bound and year_two <= bound
    assert abs(year_two / year_one - 1) < 0.1
