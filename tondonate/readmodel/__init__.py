"""The in-process read model behind every leaderboard and /api/me: one sorted
:class:`Board` per ranking (:mod:`.board`), kept current by :class:`ReadModel`
(:mod:`.model`)."""

from .board import Board
from .model import ReadModel, UserInfo, WeekBoards

__all__ = ["Board", "ReadModel", "UserInfo", "WeekBoards"]
