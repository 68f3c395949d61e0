"""Writes for formats, series and live sessions. The only code that changes their state."""

from __future__ import annotations

import datetime as dt

from dateutil.rrule import WEEKLY, rrule
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import LiveSession, Series, SessionMoment, SessionMove


class SessionError(Exception):
    """A session state change that is not allowed. `code` is stable for the API."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def series_occurrences(*, series: Series, start: dt.datetime, count: int) -> list[dt.datetime]:
    """The next `count` start times of a series at or after `start`, as aware UTC datetimes.

    Recurrence is computed by dateutil's rrule on *naive local* wall-clock times
    and only then attached to the series' IANA zone, so a weekly 09:30
    Europe/Berlin session is 09:30 local both in winter (08:30 UTC) and summer
    (07:30 UTC). A local time that does not exist on a DST spring-forward day
    is resolved with `fold=0` (zoneinfo shifts it forward by the gap).

    DST rule (docs/sessions-and-times.md), the same as dateutil.tz.resolve_imaginary for gaps:
    - a wall-clock time that does not exist that day (spring forward) is shifted forward by the
      gap length (02:30 Europe/Berlin on the last Sunday of March → 03:30 CEST);
    - a wall-clock time that occurs twice (fall back) takes the first occurrence (fold=0, the
      summer-time offset: 01:30 America/New_York on the first Sunday of November → 01:30 EDT).
    series_occurrence_note() says which rule applied, for staff.
    """
    tz = series.tz
    local_start = timezone.localtime(start, tz).replace(tzinfo=None)
    first_day = max(series.starts_on, local_start.date())
    dtstart = dt.datetime.combine(first_day, series.local_time)
    until = dt.datetime.combine(series.ends_on, dt.time.max) if series.ends_on else None
    rule = rrule(WEEKLY, byweekday=series.weekday, dtstart=dtstart, until=until, count=None if until else count + 1)
    result: list[dt.datetime] = []
    for naive in rule:
        aware = naive.replace(tzinfo=tz)
        if aware.astimezone(dt.UTC) < start:
            continue
        result.append(aware.astimezone(dt.UTC))
        if len(result) >= count:
            break
    return result


def series_session_title(*, series: Series, starts_at: dt.datetime) -> str:
    """The title the planner gives a series session: "<series> — Tue 01 Dec" (local date)."""
    return f"{series.name} — {timezone.localtime(starts_at, series.tz):%a %d %b}"


def series_occurrence_note(*, series: Series, starts_at: dt.datetime) -> str:
    """A note for staff when a series occurrence's wall-clock time did not exist or occurred twice.

    `starts_at` is an occurrence from series_occurrences (aware UTC). Returns "" for an ordinary day,
    else one sentence naming the local date, the typed time, the zone and the start actually used.
    """
    tz = series.tz
    local = starts_at.astimezone(tz)
    wanted = dt.datetime.combine(local.date(), series.local_time)
    if local.replace(tzinfo=None) != wanted:  # shifted: the typed time fell into a spring-forward gap
        wanted = dt.datetime.combine((local - (local.replace(tzinfo=None) - wanted)).date(), series.local_time)
        return (
            f"{series.local_time:%H:%M} does not exist in {series.timezone} on {wanted:%Y-%m-%d} (clocks go "
            f"forward); this session starts at {local:%H:%M %Z} instead (shifted forward by the gap)."
        )
    first, second = wanted.replace(tzinfo=tz, fold=0), wanted.replace(tzinfo=tz, fold=1)
    if first.utcoffset() != second.utcoffset():  # the typed time occurs twice: clocks go back
        return (
            f"{series.local_time:%H:%M} occurs twice in {series.timezone} on {wanted:%Y-%m-%d} (clocks go back); "
            f"this session starts at the first one, {first:%H:%M %Z} ({first.astimezone(dt.UTC):%H:%M} UTC)."
        )
    return ""


def series_plan_sessions(*, series: Series, now: dt.datetime | None = None) -> list[LiveSession]:
    """Create the series' missing upcoming sessions (up to `series.weeks_ahead`); return the new ones.

    Idempotent: a unique (series, starts_at) constraint makes a second run, or two
    runs racing, create each occurrence once. Inactive series plan nothing; an occurrence a session
    was moved away from (SessionMove, docs/cadence.md) is not planned again.
    """
    now = now or timezone.now()
    if not series.is_active:
        return []
    created: list[LiveSession] = []
    # occurrences a session was moved away from stay free (sessions_app.cadence session_reschedule)
    moved_from = set(SessionMove.objects.filter(series=series).values_list("from_starts_at", flat=True))
    for starts_at in series_occurrences(series=series, start=now, count=series.weeks_ahead):
        if starts_at in moved_from:
            continue
        try:
            with transaction.atomic():
                session, was_created = LiveSession.objects.get_or_create(
                    series=series,
                    starts_at=starts_at,
                    defaults={
                        "format": series.format,
                        "title": series_session_title(series=series, starts_at=starts_at),
                        "duration_seconds": series.format.duration_seconds,
                        "timezone": series.timezone,
                        "stream_url": series.stream_url,
                        "schedule_note": series_occurrence_note(series=series, starts_at=starts_at),
                    },
                )
        except IntegrityError:
            continue  # created by a concurrent run
        if was_created:
            created.append(session)
    return created


def series_plan_all(*, now: dt.datetime | None = None) -> int:
    """Plan upcoming sessions for every active series. Returns how many were created."""
    return sum(len(series_plan_sessions(series=s, now=now)) for s in Series.objects.filter(is_active=True))


def _transition(
    session_id: int, *, allowed_from: set[str], to: str, now: dt.datetime, then=None, **fields
) -> LiveSession:
    """Change a session's status under its row lock (FOR UPDATE).

    The lock conflicts with the FOR KEY SHARE the hold statement takes on the session row
    (commerce.locks, the selling rule's gate): holds placed before this commits are committed
    first, holds placed after see the new status and are refused. `then(session)` runs in the
    same transaction after the status changed.
    """
    with transaction.atomic():
        session = LiveSession.objects.select_for_update().get(pk=session_id)
        if session.status not in allowed_from:
            raise SessionError(
                "invalid_transition", f"This session is {session.get_status_display().lower()}; it cannot become {to}."
            )
        session.status = to
        for name, value in fields.items():
            setattr(session, name, value)
        session.save(update_fields=["status", *fields])
        if then is not None:
            then(session)
    return session


def session_go_live(*, session_id: int, now: dt.datetime | None = None) -> LiveSession:
    """scheduled → live; records the real start in `went_live_at` (pages show it, not the planned one).

    A series session still carrying the planner's title ("<series> — Sun 06 Dec") is retitled
    with the real local date, so "Live now" never shows another day; when another session already
    has that title (e.g. the series' session of that day), the real local start time is added
    ("<series> — Tue 01 Dec 18:03") so no two sessions share a title. From then on the session's
    drops sell (inside their own windows). Raises SessionError(invalid_transition) from any other state.
    """
    now = now or timezone.now()

    def retitle(session: LiveSession) -> None:
        if session.series_id and session.title == series_session_title(
            series=session.series, starts_at=session.starts_at
        ):
            title = series_session_title(series=session.series, starts_at=now)
            taken = LiveSession.objects.filter(title=title).exclude(pk=session.pk).exists()
            if taken:  # another session already carries that day's title: add the real local start time
                title = f"{title} {timezone.localtime(now, session.series.tz):%H:%M}"
            session.title = title
            session.save(update_fields=["title"])
        session_moment_record(session_id=session.pk, kind=SessionMoment.Kind.WENT_LIVE, at=now)

    return _transition(
        session_id,
        allowed_from={LiveSession.Status.SCHEDULED},
        to=LiveSession.Status.LIVE,
        now=now,
        then=retitle,
        went_live_at=now,
    )


def session_end(*, session_id: int, now: dt.datetime | None = None) -> LiveSession:
    """live → ended (or scheduled → ended if it never went live); records the real end in `ended_at`.

    From the commit on, its drops show Closed and refuse holds (code session_ended). Holds placed
    before may still check out until they expire (the buyer was already in the cart); open waitlist
    offers are withdrawn (commerce.services.waitlist.waitlist_offers_withdraw). Drops with
    `carry_over` move their unsold units to the series' next session in the same transaction
    (commerce.services.carry_over).
    """
    from commerce.services.carry_over import stock_carry_over_session
    from commerce.services.waitlist import waitlist_offers_withdraw

    now = now or timezone.now()

    def ended(session: LiveSession) -> None:
        session_moment_record(session_id=session.pk, kind=SessionMoment.Kind.ENDED, at=now)
        # open waitlist offers end with the sale (their units back first, so they carry over too)
        waitlist_offers_withdraw(session_id=session.pk, now=now)
        # carry_over drops: unsold units move to the series' next session in this transaction (docs/waitlist.md)
        stock_carry_over_session(session_id=session.pk, now=now)

    return _transition(
        session_id,
        allowed_from={LiveSession.Status.LIVE, LiveSession.Status.SCHEDULED},
        to=LiveSession.Status.ENDED,
        now=now,
        then=ended,
        ended_at=now,
    )


def session_cancel(*, session_id: int, now: dt.datetime | None = None) -> LiveSession:
    """scheduled → cancelled (a pre-sale may have run); records `ended_at`. A live or ended session
    cannot be cancelled.

    In the same transaction its calendar SEQUENCE is raised, its unsent reminders are skipped and
    followers who were already reminded get a cancellation notice (outbox, once each:
    sessions_app.cadence.services.session_cancelled_notify); and its drops' active holds are released (units back to stock), so none
    becomes an order: checkout refuses them and a late payment is refunded (code session_cancelled,
    commerce.services.holds.holds_release_for_session).
    """
    now = now or timezone.now()
    return _transition(
        session_id,
        allowed_from={LiveSession.Status.SCHEDULED},
        to=LiveSession.Status.CANCELLED,
        now=now,
        then=lambda session: _cancelled(session, now),
        ended_at=now,
    )


def _cancelled(session: LiveSession, now: dt.datetime) -> None:
    from commerce.services.holds import holds_release_for_session
    from commerce.services.waitlist import waitlist_offers_withdraw

    from .cadence.services import session_cancelled_notify

    holds_release_for_session(session_id=session.pk, now=now)
    waitlist_offers_withdraw(session_id=session.pk, now=now)  # a pre-sale's offers end with the session
    session_cancelled_notify(session=session, now=now)  # SEQUENCE + 1, cancellation notices (docs/cadence.md)


def session_moment_record(
    *, session_id: int, kind: str, at: dt.datetime, drop_id: int | None = None, note: str = ""
) -> SessionMoment:
    """Add a moment to a session's timeline (SessionMoment.Kind; `at` aware UTC).

    A drop's opening is recorded once per session (a repeat returns the first record). Call it in
    the transaction of the action it records, so a rolled-back action leaves no moment.
    """
    if kind == SessionMoment.Kind.DROP_OPENED:
        moment, _ = SessionMoment.objects.get_or_create(
            session_id=session_id, kind=kind, drop_id=drop_id, defaults={"at": at, "note": note}
        )
        return moment
    return SessionMoment.objects.create(session_id=session_id, kind=kind, at=at, drop_id=drop_id, note=note)


def session_reschedule(*, session_id: int, starts_at: dt.datetime, now: dt.datetime | None = None) -> LiveSession:
    """Move a scheduled session (SEQUENCE + 1, "time changed" notices): sessions_app.cadence.services."""
    from .cadence.services import session_reschedule as reschedule

    return reschedule(session_id=session_id, starts_at=starts_at, now=now)
