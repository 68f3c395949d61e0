"""Shared builders for the asset tests: a session that went live at a known instant, drops in it."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from django.utils import timezone

from tests.factories import LiveSessionFactory, make_drop

WENT_LIVE = dt.datetime(2026, 11, 30, 18, 0, tzinfo=dt.UTC)


def live_session(*, went_live_at: dt.datetime = WENT_LIVE, minutes: int = 10, ended: bool = True):
    return LiveSessionFactory(
        starts_at=went_live_at,
        went_live_at=went_live_at,
        ended_at=went_live_at + dt.timedelta(minutes=minutes) if ended else None,
        status="ended" if ended else "live",
    )


def drop_at(session, *, opens_at: dt.datetime, title: str = ""):
    """A drop of `session` opening at `opens_at` (aware UTC), open for an hour."""
    drop = make_drop(session=session, title=title)
    drop.opens_at, drop.closes_at = opens_at, opens_at + dt.timedelta(hours=1)
    drop.save(update_fields=["opens_at", "closes_at"])
    return drop


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def chunks_of(data: bytes, size: int):
    return [data[i : i + size] for i in range(0, len(data), size)]


def later(seconds: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=seconds)
