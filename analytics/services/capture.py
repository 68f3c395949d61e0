"""Event capture: the one entry point other apps call, and the durable ingest buffer.

`event_capture(...)` validates one event and hands it, after the caller's transaction commits, to
the process's EventWriter (analytics.services.writer): the request goes on at once and a
background thread appends the queued events to `BufferedEvent` (a table with no index but its
key) in batches, one COPY on PostgreSQL. A `purchase` is handed over the same way, but its caller
waits (a few ms, group-committed with other events) until it is written. Capture never raises into the caller: a bad or failed event is logged and dropped, and the
caller's page or payment carries on. The raw table's indexes, actor resolution, purchases and
rollups are written in batches by `events_flush` (a django-q2 task).

Once its append has committed an event is acknowledged: it survives a restart of the web or the
worker process. The beacon waits for that before it answers 202; the writer's queue is written
out at a graceful exit. The flush moves buffer rows into `Event` and deletes them in one
transaction, so an event is moved exactly once.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
import threading
from collections.abc import Iterable

from django.db import connection, transaction
from django.utils import timezone

from ..models import BufferedEvent, EventName
from .writer import event_writer, writer_mode

log = logging.getLogger(__name__)

EVENT_NAMES = frozenset(EventName.values)
MAX_PROPS_BYTES = 2048
MAX_VISITOR_ID = 64
_VISITOR_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_INT_FIELDS = ("customer_id", "session_id", "drop_id", "sku_id", "order_id", "amount_minor")
MAX_INT = 2**63 - 1
CLOCK_SKEW = dt.timedelta(minutes=5)


class EventInvalid(ValueError):
    """An event that cannot be recorded; `field` names the offending field."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


BUFFER_COLUMNS = (
    "name",
    "occurred_at",
    "received_at",
    "visitor_id",
    "customer_id",
    "session_id",
    "drop_id",
    "sku_id",
    "order_id",
    "amount_minor",
    "currency",
    "props",
)


def event_clean(
    *,
    name: str,
    visitor_id: str | None = None,
    customer_id: int | None = None,
    session_id: int | None = None,
    drop_id: int | None = None,
    sku_id: int | None = None,
    order_id: int | None = None,
    amount_minor: int | None = None,
    currency: str | None = None,
    occurred_at: dt.datetime | None = None,
    props: dict | None = None,
    now: dt.datetime | None = None,
) -> tuple:
    """Validate one event and return its buffer row (values in BUFFER_COLUMNS order).

    Rules: name in EventName; ids positive integers; amount ≥ 0 minor units and only with a
    currency; occurred_at aware and not more than 5 minutes in the future (clock skew);
    props a JSON object of at most 2 KiB. Raises EventInvalid.
    """
    now = now or timezone.now()
    if name not in EVENT_NAMES:
        raise EventInvalid("name", f"unknown event {name!r}")
    for field, value, low in (
        ("customer_id", customer_id, 1),
        ("session_id", session_id, 1),
        ("drop_id", drop_id, 1),
        ("sku_id", sku_id, 1),
        ("order_id", order_id, 1),
        ("amount_minor", amount_minor, 0),
    ):
        if value is None:
            continue
        if type(value) is not int:
            raise EventInvalid(field, "must be an integer")
        if not low <= value <= MAX_INT:
            raise EventInvalid(field, f"must be between {low} and 2^63-1")
    if visitor_id and (type(visitor_id) is not str or not _VISITOR_RE.match(visitor_id)):
        raise EventInvalid("visitor_id", "must be 1–64 characters of letters, digits and _.:-")
    if currency and (type(currency) is not str or not _CURRENCY_RE.match(currency)):
        raise EventInvalid("currency", "must be an ISO 4217 code such as USD")
    if amount_minor is not None and not currency:
        raise EventInvalid("currency", "an amount needs its currency")
    if occurred_at is None:
        occurred_at = now
    elif not isinstance(occurred_at, dt.datetime) or occurred_at.utcoffset() is None:
        raise EventInvalid("occurred_at", "must be an aware datetime")
    elif occurred_at > now + CLOCK_SKEW:
        raise EventInvalid("occurred_at", "is in the future")
    if props:
        if not isinstance(props, dict):
            raise EventInvalid("props", "must be an object")
        try:  # strict JSON: no NaN/Infinity, nothing PostgreSQL's jsonb refuses (a NUL character)
            text = json.dumps(props, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
            size = len(text.encode())  # UnicodeEncodeError (a ValueError) for lone surrogates
        except (TypeError, ValueError, RecursionError) as exc:
            raise EventInvalid("props", "must be JSON") from exc
        if "\\u0000" in text:
            raise EventInvalid("props", "must not contain NUL characters")
        if size > MAX_PROPS_BYTES:
            raise EventInvalid("props", f"larger than {MAX_PROPS_BYTES} bytes")
    elif props is not None and not isinstance(props, dict):
        raise EventInvalid("props", "must be an object")
    return (
        name,
        occurred_at,
        now,
        visitor_id or "",
        customer_id,
        session_id,
        drop_id,
        sku_id,
        order_id,
        amount_minor,
        currency or "",
        props or {},
    )


def event_capture(
    *,
    name: str,
    visitor_id: str | None = None,
    customer_id: int | None = None,
    session_id: int | None = None,
    drop_id: int | None = None,
    sku_id: int | None = None,
    order_id: int | None = None,
    amount_minor: int | None = None,
    currency: str | None = None,
    occurred_at: dt.datetime | None = None,
    props: dict | None = None,
) -> bool:
    """Record one funnel event; the public service every app calls. Never raises.

    Arguments are plain ids (see event_clean for the rules). Inside a transaction the event
    is appended when it commits (an order that rolls back records nothing); outside, at once.
    Returns True if the event was valid and queued, False if it was dropped (logged).
    """
    try:
        row = event_clean(
            name=name,
            visitor_id=visitor_id,
            customer_id=customer_id,
            session_id=session_id,
            drop_id=drop_id,
            sku_id=sku_id,
            order_id=order_id,
            amount_minor=amount_minor,
            currency=currency,
            occurred_at=occurred_at,
            props=props,
        )
    except EventInvalid as exc:
        log.warning("analytics event dropped: %s", exc)
        return False
    except Exception:  # never break the caller's page or payment
        log.exception("analytics event dropped")
        return False
    try:
        transaction.on_commit(functools.partial(_hand_over, [row], wait=name in WAITED_FOR_EVENTS))
    except Exception:
        log.exception("analytics event dropped")
        return False
    return True


WAITED_FOR_EVENTS = frozenset({"purchase"})
WAIT_SECONDS = 5.0


def _hand_over(rows: list[tuple], *, wait: bool = False) -> None:
    """After commit: queue the rows on the process's writer (or write them now in sync mode).

    With `wait` (purchases) the caller returns only once the rows are committed: a payment
    webhook that has answered has its purchase event in the database. The writer keeps queue
    order, so events captured earlier in the same transaction are written no later.
    """
    try:
        if writer_mode() != "thread":
            buffer_append(rows)
        elif wait:
            event_writer().submit(rows, wait=True).result(WAIT_SECONDS)
        else:
            event_writer().submit(rows)
    except Exception:
        log.exception("analytics: %d event(s) could not be buffered", len(rows))


def buffer_append(rows: list[tuple]) -> int:
    """Append cleaned rows (event_clean output) to the durable buffer; returns how many.

    COPY on PostgreSQL for batches, a multi-row INSERT otherwise. Committed = acknowledged.
    Raises database errors.
    """
    if not rows:
        return 0
    if connection.vendor == "postgresql" and len(rows) >= 100:
        sql = f"COPY {BufferedEvent._meta.db_table} ({', '.join(BUFFER_COLUMNS)}) FROM STDIN"
        with transaction.atomic(), connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row((*row[:-1], json.dumps(row[-1]) if row[-1] else "{}"))
        return len(rows)
    BufferedEvent.objects.bulk_create(
        [BufferedEvent(**dict(zip(BUFFER_COLUMNS, row, strict=True))) for row in rows], batch_size=1000
    )
    return len(rows)


def events_capture_many(
    events: Iterable[dict], *, now: dt.datetime | None = None, timeout: float = 5.0
) -> tuple[int, list[dict]]:
    """Validate and buffer many events at once (beacon batches, imports, the batch path).

    `events` are dicts of event_capture's keyword arguments. Returns (accepted, errors) where
    each error is {"index", "field", "message"}; valid events are buffered even if others fail.
    Returns only once the accepted events are committed: in thread mode they join the writer's
    next batch (group commit with other callers) and this waits up to `timeout` seconds.
    Raises DB errors and TimeoutError (the caller decides; the beacon view turns them into 503).
    """
    now = now or timezone.now()
    rows, errors = [], []
    for index, raw in enumerate(events):
        try:
            rows.append(event_clean(**raw, now=now))
        except EventInvalid as exc:
            errors.append({"index": index, "field": exc.field, "message": exc.message})
        except TypeError:
            errors.append({"index": index, "field": "event", "message": "unknown or missing fields"})
    if rows and writer_mode() == "thread" and not transaction.get_connection().in_atomic_block:
        event_writer().submit(rows, wait=True).result(timeout)
    else:
        buffer_append(rows)
    return len(rows), errors


# --- bots -------------------------------------------------------------------------------------

_detector_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _detector():
    from crawlerdetect import CrawlerDetect

    return CrawlerDetect()


@functools.lru_cache(maxsize=4096)
def is_bot(user_agent: str) -> bool:
    """True if the user agent is a crawler, spider, headless browser or monitor.

    Uses the maintained `crawlerdetect` patterns (a port of JayBizzle/Crawler-Detect).
    An empty user agent is not treated as a bot.
    """
    if not user_agent:
        return False
    with _detector_lock:  # CrawlerDetect keeps match state on the instance
        return bool(_detector().isCrawler(user_agent[:1000]))


def event_capture_request(request, *, name: str, **fields) -> bool:
    """event_capture for a storefront request: adds the visitor id, skips bots. Never raises.

    Needs analytics.middleware.VisitorMiddleware (request.visitor_id); returns False for bots.
    """
    try:
        if is_bot(request.headers.get("User-Agent", "")):
            return False
        return event_capture(name=name, visitor_id=getattr(request, "visitor_id", None), **fields)
    except Exception:
        log.exception("analytics event dropped")
        return False
