"""Event capture: the one entry point other apps call, and the durable ingest buffer.

`event_capture(...)` validates one event, then appends it to `BufferedEvent` (one row, a
primary key and a JSON text) after the caller's transaction commits. It never raises into the
caller: a bad or failed event is logged and dropped, and the caller's page or payment carries
on. The request therefore pays one unindexed append at most; the raw table's indexes, actor
resolution, purchases and rollups are written in batches by `events_flush` (a django-q2 task).

Once the append has committed the event is acknowledged: it is in the database and survives a
restart of the web or the worker process. The flush moves buffer rows into `Event` and deletes
them in one transaction, so an event is moved exactly once.
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

log = logging.getLogger(__name__)

EVENT_NAMES = frozenset(EventName.values)
MAX_PROPS_BYTES = 2048
MAX_VISITOR_ID = 64
_VISITOR_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_INT_FIELDS = ("customer_id", "session_id", "drop_id", "sku_id", "order_id", "amount_minor")
MAX_INT = 2**63 - 1


class EventInvalid(ValueError):
    """An event that cannot be recorded; `field` names the offending field."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


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
) -> dict:
    """Validate one event and return its buffer payload (plain JSON types).

    Shape: {"name", "t" (occurred_at, ISO 8601 UTC), "r" (received_at), "v" (visitor id),
    "c", "s", "d", "k", "o", "a" (ints or null), "cur" (ISO 4217 or ""), "p" (dict)}.
    Rules: name in EventName; ids positive integers; amount ≥ 0 minor units and only with a
    currency; occurred_at aware and not more than 5 minutes in the future (clock skew);
    props a JSON object of at most 2 KiB. Raises EventInvalid.
    """
    now = now or timezone.now()
    if name not in EVENT_NAMES:
        raise EventInvalid("name", f"unknown event {name!r}")
    values = {
        "customer_id": customer_id,
        "session_id": session_id,
        "drop_id": drop_id,
        "sku_id": sku_id,
        "order_id": order_id,
        "amount_minor": amount_minor,
    }
    for field, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise EventInvalid(field, "must be an integer")
        low = 0 if field == "amount_minor" else 1
        if not low <= value <= MAX_INT:
            raise EventInvalid(field, f"must be between {low} and 2^63-1")
    if (
        visitor_id is not None
        and visitor_id != ""
        and (not isinstance(visitor_id, str) or not _VISITOR_RE.match(visitor_id))
    ):
        raise EventInvalid("visitor_id", "must be 1–64 characters of letters, digits and _.:-")
    cur = ""
    if currency:
        if not isinstance(currency, str) or not _CURRENCY_RE.match(currency):
            raise EventInvalid("currency", "must be an ISO 4217 code such as USD")
        cur = currency
    if amount_minor is not None and not cur:
        raise EventInvalid("currency", "an amount needs its currency")
    if occurred_at is None:
        occurred_at = now
    if not isinstance(occurred_at, dt.datetime) or timezone.is_naive(occurred_at):
        raise EventInvalid("occurred_at", "must be an aware datetime")
    if occurred_at > now + dt.timedelta(minutes=5):
        raise EventInvalid("occurred_at", "is in the future")
    props = props or {}
    if not isinstance(props, dict):
        raise EventInvalid("props", "must be an object")
    try:
        props_json = json.dumps(props, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise EventInvalid("props", "must be JSON") from exc
    if len(props_json.encode()) > MAX_PROPS_BYTES:
        raise EventInvalid("props", f"larger than {MAX_PROPS_BYTES} bytes")
    return {
        "name": name,
        "t": occurred_at.astimezone(dt.UTC).isoformat(),
        "r": now.astimezone(dt.UTC).isoformat(),
        "v": visitor_id or "",
        "c": customer_id,
        "s": session_id,
        "d": drop_id,
        "k": sku_id,
        "o": order_id,
        "a": amount_minor,
        "cur": cur,
        "p": props,
    }


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
        payload = event_clean(
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
        transaction.on_commit(functools.partial(_append_safely, [payload]))
    except Exception:
        log.exception("analytics event dropped")
        return False
    return True


def _append_safely(payloads: list[dict]) -> None:
    try:
        buffer_append(payloads)
    except Exception:
        log.exception("analytics: %d event(s) could not be buffered", len(payloads))


def buffer_append(payloads: Iterable[dict]) -> int:
    """Append cleaned payloads to the durable buffer; returns how many. Raises DB errors.

    One multi-row INSERT (COPY on PostgreSQL for large batches). Committed = acknowledged.
    """
    rows = [json.dumps(p, separators=(",", ":"), ensure_ascii=False) for p in payloads]
    if not rows:
        return 0
    if connection.vendor == "postgresql" and len(rows) >= 500:
        with transaction.atomic(), connection.cursor() as cursor:
            table = BufferedEvent._meta.db_table
            with cursor.cursor.copy(f"COPY {table} (payload) FROM STDIN") as copy:  # noqa: S608 - our table name
                for row in rows:
                    copy.write_row((row,))
        return len(rows)
    BufferedEvent.objects.bulk_create([BufferedEvent(payload=r) for r in rows], batch_size=1000)
    return len(rows)


def events_capture_many(events: Iterable[dict], *, now: dt.datetime | None = None) -> tuple[int, list[dict]]:
    """Validate and buffer many events at once (beacon batches, imports, the batch path).

    `events` are dicts of event_capture's keyword arguments. Returns (accepted, errors) where
    each error is {"index", "field", "message"}; valid events are buffered even if others fail.
    Raises DB errors (the caller decides; the beacon view turns them into 503).
    """
    now = now or timezone.now()
    payloads, errors = [], []
    for index, raw in enumerate(events):
        try:
            payloads.append(event_clean(**raw, now=now))
        except EventInvalid as exc:
            errors.append({"index": index, "field": exc.field, "message": exc.message})
        except TypeError:
            errors.append({"index": index, "field": "event", "message": "unknown or missing fields"})
    buffer_append(payloads)
    return len(payloads), errors


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
