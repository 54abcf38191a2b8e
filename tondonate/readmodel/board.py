"""One ranking in memory: :class:`Board`, sorted by tons descending, then by who
reached the total first, then by the lower id.

Every request asks its caller's rank, so ranks are two C bisects over packed
integer keys (under 1 us) instead of ``SortedList.index`` (2-4 us at 100k entries).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable

from sortedcontainers import SortedList

_ID_BITS = 64  # tg_id < 2**63
_TIME_BITS = 32  # reached_at: Unix seconds, good until 2106
_ID_MASK = (1 << _ID_BITS) - 1
_TIME_MASK = (1 << _TIME_BITS) - 1
_TONS_SHIFT = _ID_BITS + _TIME_BITS


def _board_key(entity: int, tons: int, reached_at: int) -> int:
    """(-tons, reached_at, entity) packed in one int that sorts the same way: the
    board compares keys on every insert and rank lookup, and comparing two ints is
    several times cheaper than comparing two tuples."""
    if not (0 <= reached_at <= _TIME_MASK and 0 <= entity <= _ID_MASK):
        raise ValueError(f"board key out of range: entity={entity} reached_at={reached_at}")
    return (-tons << _TONS_SHIFT) + (reached_at << _ID_BITS) + entity


class Board:
    """One ranking: tons descending, then who reached the total first, then the lower id."""

    __slots__ = ("_sorted", "_keys", "_offsets", "version")

    def __init__(self) -> None:
        self._sorted: SortedList = SortedList()
        self._keys: dict[int, int] = {}  # id -> _board_key(id, tons, reached_at)
        self._offsets: list[int] | None = None  # see _rank
        self.version = 0

    def set(self, entity: int, tons: int, reached_at: int, listed: bool = True) -> bool:
        """Place ``entity`` (or take it off when delisted or at zero); True when anything moved."""
        key = _board_key(entity, tons, reached_at) if listed and tons > 0 else None
        old = self._keys.get(entity)
        if old == key:
            return False
        if old is not None:
            self._sorted.remove(old)
            del self._keys[entity]
        if key is not None:
            self._keys[entity] = key
            self._sorted.add(key)
        self._offsets = None
        self.version += 1
        return True

    def _rank(self, key: int) -> int:
        """1-based position of a key on the board.

        Every request asks its caller's rank, and ``SortedList.index`` walks a positional
        index in Python (2-4 us at 100k entries).  A SortedList is a list of sorted
        sublists, so the rank is the sizes of the sublists before the key's, plus its
        place in its own: two C bisects, with those running sizes built once per change
        of the board (a few hundred sublists: microseconds, at most ten times a second).
        This reads sortedcontainers' documented-in-source layout (``_maxes``, ``_lists``),
        pinned below 3 in pyproject; tests compare it with ``SortedList.index``.
        """
        lists = self._sorted._lists
        offsets = self._offsets
        if offsets is None:
            offsets = self._offsets = [0, *itertools.accumulate(map(len, lists))]
        pos = bisect.bisect_left(self._sorted._maxes, key)
        return offsets[pos] + bisect.bisect_left(lists[pos], key) + 1

    def standing(self, entity: int) -> tuple[int, int] | None:
        """(rank, tons) of ``entity``, or None when it is not on this board."""
        key = self._keys.get(entity)
        return None if key is None else (self._rank(key), -(key >> _TONS_SHIFT))

    def rank(self, entity: int) -> int | None:
        found = self.standing(entity)
        return None if found is None else found[0]

    def tons(self, entity: int) -> int:
        key = self._keys.get(entity)
        return 0 if key is None else -(key >> _TONS_SHIFT)

    def page(self, offset: int, limit: int) -> list[tuple[int, int, int]]:
        """[(rank, id, tons)] of one page."""
        return [
            (offset + i + 1, key & _ID_MASK, -(key >> _TONS_SHIFT))
            for i, key in enumerate(self._sorted.islice(offset, offset + limit))
        ]

    def __len__(self) -> int:
        return len(self._sorted)

    @classmethod
    def build(cls, rows: Iterable[tuple[int, int, int]], listed: Callable[[int], bool]) -> Board:
        board = cls()
        keys = [_board_key(entity, tons, reached) for entity, tons, reached in rows if tons > 0 and listed(entity)]
        board._sorted = SortedList(keys)
        board._keys = {key & _ID_MASK: key for key in keys}
        return board
