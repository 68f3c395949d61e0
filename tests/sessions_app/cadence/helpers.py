"""Builders for cadence tests: a weekly series with sessions and confirmed followers."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import time

from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

from sessions_app.cadence.models import SeriesFollower
from sessions_app.models import LiveSession, Series, SessionFormat
from sessions_app.services import series_plan_sessions


def make_series(*, tz="Europe/Berlin", weekday=0, local_time=dt.time(9, 30), slug="monday-live", starts_on=None):
    fmt = SessionFormat.objects.get_or_create(
        slug="ama-10min", defaults={"name": "AMA", "kind": "ama", "duration_seconds": 600}
    )[0]
    return Series.objects.create(
        name=f"{slug} series",
        slug=slug,
        format=fmt,
        host_name="Mara",
        timezone=tz,
        weekday=weekday,
        local_time=local_time,
        starts_on=starts_on or dt.date(2026, 1, 1),
        weeks_ahead=6,
    )


def plan(series: Series, *, now: dt.datetime) -> list[LiveSession]:
    series_plan_sessions(series=series, now=now)
    return list(series.sessions.filter(starts_at__gte=now).order_by("starts_at"))


def session_at(series: Series, starts_at: dt.datetime) -> LiveSession:
    return LiveSession.objects.create(
        series=series,
        format=series.format,
        title=f"{series.name} at {starts_at:%Y-%m-%d %H:%M}",
        starts_at=starts_at,
        duration_seconds=600,
        timezone=series.timezone,
        status=LiveSession.Status.SCHEDULED,
    )


def followers(series: Series, n: int, *, prefix="viewer") -> list[SeriesFollower]:
    now = timezone.now()
    return [
        SeriesFollower.objects.create(
            series=series,
            email=f"{prefix}{i}@example.com",
            email_normalized=f"{prefix}{i}@example.com",
            status=SeriesFollower.Status.CONFIRMED,
            created_at=now,
            confirmed_at=now,
        )
        for i in range(n)
    ]


class BlockingRecordingBackend(BaseEmailBackend):
    """Appends one JSON line per sent message to $CADENCE_MAIL_LOG (an SMTP server stand-in, shared by
    processes). With $CADENCE_MAIL_BLOCK_AFTER=N, the (N+1)th message of this process never gets sent:
    the worker hangs there (until it is killed)."""

    sent_here = 0

    def send_messages(self, email_messages):
        path = os.environ["CADENCE_MAIL_LOG"]
        block_after = int(os.environ.get("CADENCE_MAIL_BLOCK_AFTER", "0") or 0)
        for message in email_messages:
            if block_after and BlockingRecordingBackend.sent_here >= block_after:
                with open(path + ".blocked", "w") as fh:
                    fh.write(str(os.getpid()))
                time.sleep(3600)
            record = {"message_id": message.extra_headers.get("Message-ID"), "to": message.to, "pid": os.getpid()}
            with open(path, "a") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                fh.write(json.dumps(record) + "\n")
            BlockingRecordingBackend.sent_here += 1
        return len(email_messages)


def mail_log(path) -> list[dict]:
    try:
        with open(path) as fh:
            return [json.loads(line) for line in fh if line.strip()]
    except FileNotFoundError:
        return []
