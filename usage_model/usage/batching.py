"""Splitting ordered work into consecutive runs of bounded size."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import TypeVar

Item = TypeVar("Item", bound=Hashable)


def bounded_runs(sized: Iterable[tuple[Item, int]], bound: int) -> list[list[Item]]:
    """Consecutive runs of `sized`'s items, in order, whose sizes add up to at most `bound`
    (an item bigger than that makes a run of its own)."""
    runs: list[list[Item]] = []
    held = 0
    for item, size in sized:
        if not runs or held + size > bound:
            runs.append([])
            held = 0
        runs[-1].append(item)
        held += size
    return runs
