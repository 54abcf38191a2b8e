"""tondonate: Telegram Stars donations leaderboard Mini App."""

__version__ = "0.1.0"
