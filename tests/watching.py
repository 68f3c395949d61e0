"""Reading watch evidence in tests whatever the cache: with Redis the heartbeats are buffered there and
copied into WatchEvidence by the per-minute flush (sessions_app.watch), so a test flushes first."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from sessions_app.models import WatchEvidence
from sessions_app.watch import watch_evidence_flush


def evidence():
    """WatchEvidence.objects after copying the buffer into the table (a no-op without Redis)."""
    watch_evidence_flush()
    return WatchEvidence.objects


def seconds_later(monkeypatch, seconds: float) -> dt.datetime:
    """Move the clock that requests see (django.utils.timezone.now) forward; returns the new now."""
    moved = timezone.now() + dt.timedelta(seconds=seconds)
    monkeypatch.setattr(timezone, "now", lambda: moved)
    return moved
