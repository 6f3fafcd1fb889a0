"""The organization rate limit: a fixed window of 60 seconds on the emulator's clock."""

from __future__ import annotations

import math

WINDOW_SECONDS = 60.0


class RateLimit:
    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0  # requests in the current window, refused ones included
        self._window_end = -math.inf

    def spend(self, now: float) -> bool:
        """Count one request; False once the window's budget is spent."""
        self.reset_in(now)
        self.used += 1
        return self.used <= self.limit

    def reset_in(self, now: float) -> int:
        """Whole seconds until the window resets, starting a new window if the last ended."""
        if now >= self._window_end:
            self.used, self._window_end = 0, now + WINDOW_SECONDS
        return math.ceil(self._window_end - now)

    def headers(self, now: float) -> list[tuple[str, str]]:
        reset = self.reset_in(now)
        return headers(self.limit, max(self.limit - self.used, 0), reset)


def headers(limit: int, remaining: int, reset: int) -> list[tuple[str, str]]:
    """The organization-level ``RateLimit-*`` headers (with a warning while exhausted)."""
    found = [
        ("RateLimit-Scope", "rest"),
        ("RateLimit-Limit", str(limit)),
        ("RateLimit-Remaining", str(remaining)),
        ("RateLimit-Reset", str(reset)),
    ]
    if remaining == 0:
        found.append(("RateLimit-Warning", "You have exceeded your API rate limit."))
    return found


def exceeded(limit: int, current: int, reset: int) -> dict[str, object]:
    """The 429 body, as the docs show it."""
    return {
        "message": (
            "You have exceeded your API rate limit. "
            f"Please wait {reset} seconds before making more requests."
        ),
        "scope": "rest",
        "limit": limit,
        "current": current,
        "reset": reset,
    }
