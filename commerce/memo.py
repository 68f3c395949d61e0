"""Per-process memory for hot reads during a spike (partner keys, a drop's terms).

A `ProcessMemo` keeps values for a number of seconds read from a setting at each lookup, in this
process only. `forget()` (hooked to the models' save signals in CommerceConfig.ready) empties it
at once in the process that saved; other processes see a change once their entries lapse.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable
from typing import Any

from django.conf import settings

MISSING = object()


class ProcessMemo:
    """A small thread-safe time-to-live dict; `seconds_setting` of 0 turns it off."""

    def __init__(self, seconds_setting: str, default_seconds: float, max_entries: int = 1024):
        self.seconds_setting = seconds_setting
        self.default_seconds = default_seconds
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def seconds(self) -> float:
        return float(getattr(settings, self.seconds_setting, self.default_seconds))

    def get(self, key: Hashable) -> Any:
        """The remembered value, or MISSING when absent, lapsed or the memo is off."""
        hit = self._entries.get(key)
        if hit is None or hit[0] <= time.monotonic() or self.seconds() <= 0:
            return MISSING
        return hit[1]

    def put(self, key: Hashable, value: Any) -> None:
        ttl = self.seconds()
        if ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + ttl, value)

    def forget(self, **_signal_kwargs) -> None:
        """Forget everything (usable as a signal receiver)."""
        with self._lock:
            self._entries.clear()
