"""Who is watching a live session, from server-side evidence: the session page's heartbeats and status polls.

While a live session's page is open and visible, its script posts a heartbeat to
`/s/<id>/watching` every WATCH_BEAT_SECONDS (sessions_app.views.session_watching): that endpoint is
never cached, so the evidence survives a CDN or the nginx micro-cache serving the status JSON. Polls
of `/s/<id>/status.json` that reach Django count the same way (a deployment without a cache in front).
Each carries the first-party visitor cookie (analytics.middleware.COOKIE); for a live session it is
recorded at most once per visitor every WRITE_EVERY_SECONDS. Between two recorded polls the viewer is
credited the elapsed time, capped at MAX_GAP_SECONDS, so a viewer who closed the tab and came back
later is not credited for the time away. Nothing the client sends can claim watched time: it can
only keep polling, which is what watching the page does.

Where it is kept:

- **With Redis as the cache** (every deployment; REDIS_URL): a beat is one atomic Lua script on a
  per-session hash in Redis (visitor → first poll, last poll, seconds, polls) and a sorted set of last
  polls ("viewers now"); no database work. At 10,000 viewers the heartbeat is about 500 requests a
  second, and a database UPDATE per beat made the origin the limit (issue #15, docs/deployment.md §2b).
  `watch_evidence_flush` (django-q2, every minute) copies the viewers whose state changed into
  WatchEvidence with an upsert that only moves values forward (GREATEST), so a flush killed half-way,
  two flushes at once or a flush racing beats never lose or lower anything; a visitor unknown to Redis
  (first beat, or after a Redis restart) is seeded from its WatchEvidence row (the first such beat loads
  all of the session's rows at once), so after a restart the buffer is not behind the table; after a restore from an older snapshot it can be until the next
  flush, which raises the buffer to the table where the table is ahead. Readers (watched_seconds,
  viewers_now) ask Redis first, the table when Redis cannot be reached. What a Redis restart loses:
  the credit earned since the last flush (at most about a minute per viewer); while Redis is down,
  beats are not recorded (the pages keep working).
- **Without Redis** (a single-process development server with the local-memory cache): written to
  WatchEvidence on each recorded beat, as the only place every process can see.

Used by watch-gated coupons (a personal code after N seconds watched), the control room's "viewers
now" counter and members' missed-session credit (commerce.memberships.services_credits).
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from redis.exceptions import RedisError

from analytics.middleware import is_visitor_id

from .models import LiveSession, WatchEvidence

log = logging.getLogger(__name__)

WATCH_BEAT_SECONDS = 20  # the page's heartbeat period while live (below MAX_GAP_SECONDS: full credit)
WRITE_EVERY_SECONDS = 10  # one recorded poll per visitor and session at most this often
MAX_GAP_SECONDS = 30  # a gap between recorded polls longer than this is credited as this
VIEWERS_NOW_SECONDS = 30  # "viewers now": visitors with a recorded poll in the last 30 s
BUFFER_TTL_SECONDS = 2 * 24 * 3600  # buffered state outlives any session; refreshed on every write
BUFFER_KEEP_AFTER_SECONDS = 120  # a session not live whose last beat is older than this leaves the buffer
FLUSH_BATCH = 1000  # rows per upsert statement

# KEYS: 1 hash visitor → "first last seconds polls" (epoch seconds), 2 sorted set visitor → last poll,
#       3 set of session ids with buffered state, 4 set of visitors changed since the last flush took them.
# ARGV: 1 visitor, 2 now, 3 WRITE_EVERY_SECONDS, 4 MAX_GAP_SECONDS, 5 ttl, 6 session id,
#       7 seed ("" = none: answer -1/-2 for a visitor the buffer does not know),
#       8 "1" = mark the buffer complete if this seed creates it (COMPLETE field: the table has nothing
#       the buffer lacks, so a visitor the buffer does not know is new; see _record_in_buffer).
# Returns 1 if written, 0 if throttled (or not newer), -1 if the visitor is unknown and no seed was given,
# -2 the same in a complete buffer (a newcomer for sure).
_RECORD_LUA = """
local state = redis.call('HGET', KEYS[1], ARGV[1])
local changed = false
if not state then
  if ARGV[7] == '' then
    if redis.call('HEXISTS', KEYS[1], '!complete') == 1 then return -2 end
    return -1
  end
  if ARGV[8] == '1' and redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('HSET', KEYS[1], '!complete', '1')
  end
  state = ARGV[7]
  changed = true
end
local first, last, secs, polls = string.match(state, '^(%S+) (%S+) (%d+) (%d+)$')
last = tonumber(last)
secs = tonumber(secs)
polls = tonumber(polls)
local now = tonumber(ARGV[2])
local gap = now - last
if gap >= tonumber(ARGV[3]) then
  secs = secs + math.floor(math.min(gap, tonumber(ARGV[4])))
  polls = polls + 1
  last = now
  changed = true
end
if not changed then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], first .. ' ' .. string.format('%.6f', last) .. ' ' .. secs .. ' ' .. polls)
redis.call('ZADD', KEYS[2], last, ARGV[1])
redis.call('SADD', KEYS[3], ARGV[6])
redis.call('SADD', KEYS[4], ARGV[1])
for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ARGV[5]) end
return 1
"""
# The flush's take (KEYS: 4 the changed set, 5 the set being copied): what an earlier flush took and
# did not finish (killed) plus what changed since, moved atomically so a beat during the copy marks
# its visitor again in KEYS[4]. Returns the visitors to copy.
_TAKE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('SUNIONSTORE', KEYS[2], KEYS[2], KEYS[1])
  redis.call('DEL', KEYS[1])
  redis.call('EXPIRE', KEYS[2], ARGV[1])
end
return redis.call('SMEMBERS', KEYS[2])
"""
# After a flush committed (KEYS: 1 hash, 2 the set being copied, 3 seen), per visitor three ARGV: the
# visitor, the state the flush copied ("" = none) and the table's row after the upsert ("" = none).
# The visitor leaves the taken set only if its state is still the one copied (a beat since, taken by a
# concurrent flush that was then killed, would otherwise be in neither set); and the buffer is raised
# to the table where the table is ahead (a Redis restored from an older snapshot: a viewer who beat
# again before this flush was restarted from zero), so readers asking Redis first see no less than
# the table. Times compare with a millisecond's tolerance (the table keeps microseconds).
_SETTLE_LUA = """
local pattern = '^(%S+) (%S+) (%d+) (%d+)$'
for i = 1, #ARGV, 3 do
  local visitor, copied, merged = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local current = redis.call('HGET', KEYS[1], visitor)
  if (not current and copied == '') or current == copied then redis.call('SREM', KEYS[2], visitor) end
  if current and merged ~= '' then
    local f1, l1, s1, p1 = string.match(current, pattern)
    local f2, l2, s2, p2 = string.match(merged, pattern)
    local raised = false
    if tonumber(f2) < tonumber(f1) - 0.001 then f1 = f2; raised = true end
    if tonumber(l2) > tonumber(l1) + 0.001 then l1 = l2; raised = true end
    if tonumber(s2) > tonumber(s1) then s1 = s2; raised = true end
    if tonumber(p2) > tonumber(p1) then p1 = p2; raised = true end
    if raised then
      redis.call('HSET', KEYS[1], visitor, f1 .. ' ' .. l1 .. ' ' .. s1 .. ' ' .. p1)
      local seen = redis.call('ZSCORE', KEYS[3], visitor)
      if not seen or tonumber(seen) < tonumber(l1) then redis.call('ZADD', KEYS[3], l1, visitor) end
    end
  end
end
return 0
"""
SETTLE_BATCH = 1000  # visitors per settle script call (keeps each script short: Redis runs one at a time)
# Loading a session's rows into its buffer (after a Redis restart: rows in the table, no complete buffer).
# KEYS: 1 hash, 2 seen, 3 sessions. ARGV: 1 ttl, 2 session id, 3 "1" = mark complete after this batch,
# then per row: visitor, state ("first last seconds polls"), last poll. A visitor the buffer already has
# keeps its state (it is newer: it beat since, seeded from the same row). Loaded rows are not "changed".
_LOAD_LUA = """
for i = 4, #ARGV, 3 do
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('ZADD', KEYS[2], 'NX', ARGV[i + 2], ARGV[i])
  end
end
if ARGV[3] == '1' then redis.call('HSET', KEYS[1], '!complete', '1') end
redis.call('SADD', KEYS[3], ARGV[2])
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[1]) end
return 0
"""
LOAD_LOCK_SECONDS = 30  # one request loads a session's rows; others look visitors up one by one meanwhile
_scripts: dict[str, object] = {}  # Lua source → redis-py Script (EVALSHA, loaded again after a restart)
COMPLETE = "!complete"  # a field of the session's hash, never a visitor id (32 hex): evicted with it


def _redis():
    """The redis-py client behind the default cache (config.cache keeps one per pool), or None when the
    cache is not Redis."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    return backend._cache.get_client(write=True)


def _eval(client, source: str, keys: list[str], args: list) -> object:
    script = _scripts.get(source)
    if script is None:
        script = _scripts.setdefault(source, client.register_script(source))
    return script(keys=keys, args=args, client=client)


def watch_buffer_in_use() -> bool:
    """True when heartbeats are buffered in Redis (the cache is Redis), False when written to the table."""
    return _redis() is not None


def _keys(session_id: int) -> tuple[str, str, str, str, str]:
    """(hash, seen, sessions, changed, taken) Redis keys of a session's buffer."""
    make = caches["default"].make_key
    base = f"watch:v1:{session_id}"
    return (
        make(base),
        make(f"{base}:seen"),
        make("watch:v1:sessions"),
        make(f"{base}:changed"),
        make(f"{base}:taken"),
    )


def _epoch(moment: dt.datetime) -> str:
    return f"{moment.timestamp():.6f}"


def _from_epoch(value: str | bytes) -> dt.datetime:
    return dt.datetime.fromtimestamp(float(value), tz=dt.UTC)


def watch_poll_record(
    *, session_id: int, session_status: str, visitor_id: str | None, now: dt.datetime, network: str = ""
) -> bool:
    """Record one status poll or heartbeat of a live session by a visitor; True if it was recorded.

    `visitor_id` is the request's `mm_vid` cookie as sent (None or malformed: nothing recorded,
    a visitor without a cookie has no identity to credit); `now` is the poll's time (aware, UTC). Only
    polls of a `live` session count. One poll per (session, visitor) is recorded every
    WRITE_EVERY_SECONDS at most (an earlier one answers False); concurrent polls of one visitor are
    serialised (Redis script, or an optimistic UPDATE), so none double-counts.

    `network` (config.client_ip.client_network of the request; '' = unknown, not limited): a visitor
    seen for the first time on a session costs a row, and a cookie is anyone's to make up, so
    first records are capped per network at settings.WATCH_NEW_VISITORS_PER_NETWORK per
    WATCH_NEW_VISITORS_WINDOW_SECONDS (commerce.ratelimit's shared counters). A real newcomer over the
    cap (hundreds joining behind one venue's address in a minute) is recorded on a beat after the
    window: it loses at most that window's credit. Visitors already recorded are never capped.
    """
    if session_status != "live" or not is_visitor_id(visitor_id):
        return False
    client = _redis()
    if client is None:
        return _record_in_database(session_id=session_id, visitor_id=visitor_id, now=now, network=network)
    try:
        return _record_in_buffer(client, session_id=session_id, visitor_id=visitor_id, now=now, network=network)
    except RedisError as exc:  # evidence is lost for the outage; the viewer's page keeps working
        log.warning("watch evidence: Redis unavailable, beat not recorded: %s", exc)
        return False


def watch_recently_recorded(*, session_id: int, visitor_id: str | None, now: dt.datetime) -> bool:
    """True when this visitor's last recorded poll of the session is under WRITE_EVERY_SECONDS old in the
    buffer (its next poll would be throttled): callers skip their own checks for it (a members-only
    session's member check costs queries). One Redis read; False without Redis or when it is down."""
    client = _redis()
    if client is None or not is_visitor_id(visitor_id):
        return False
    try:
        state = client.hget(_keys(session_id)[0], visitor_id)
    except RedisError:
        return False
    return state is not None and now.timestamp() - float(state.split()[1]) < WRITE_EVERY_SECONDS


def _run_record(
    client, session_id: int, visitor_id: str, now: dt.datetime, seed: str = "", complete: bool = False
) -> int:
    args = [visitor_id, _epoch(now), WRITE_EVERY_SECONDS, MAX_GAP_SECONDS, BUFFER_TTL_SECONDS, session_id, seed]
    return int(_eval(client, _RECORD_LUA, list(_keys(session_id)[:4]), [*args, "1" if complete else ""]))


def _record_in_buffer(client, *, session_id: int, visitor_id: str, now: dt.datetime, network: str) -> bool:
    """A known visitor: one script, no query. An unknown one in a buffer that is not complete: one request
    loads all the session's rows into the buffer and marks it complete (_load_session_rows: one query,
    also for a new session with no rows, and after a Redis restart), and in a complete buffer an unknown
    visitor is new without asking the table: at a spike's start nearly every beat is a newcomer's. While
    another request holds the load, a visitor is looked up alone: carry on from the table's row, or
    start a new record (capped per network); the buffer is then marked complete only if the table has no
    row for the session (rows only come from flushing this buffer then)."""
    result = _run_record(client, session_id, visitor_id, now)
    if result == -1 and _load_session_rows(client, session_id):
        result = _run_record(client, session_id, visitor_id, now)  # loaded: known, or a newcomer for sure
    if result >= 0:
        return result == 1
    row, complete = None, False
    if result == -1:
        row = WatchEvidence.objects.filter(session_id=session_id, visitor_id=visitor_id).first()
        complete = row is None and not WatchEvidence.objects.filter(session_id=session_id).exists()
    if row is not None:
        seed = f"{_epoch(row.first_poll_at)} {_epoch(row.last_poll_at)} {row.watched_seconds} {row.polls}"
    elif _new_watchers_capped(network):
        return False
    else:
        seed = f"{_epoch(now)} {_epoch(now)} 0 1"
    return _run_record(client, session_id, visitor_id, now, seed, complete) == 1


def _load_session_rows(client, session_id: int) -> bool:
    """Load every WatchEvidence row of the session into its buffer and mark it complete: one query instead
    of two per first beat of each viewer after a Redis restart (rows in the table, a buffer that is not
    complete; at a spike that is every viewer). One request loads (a Redis lock for LOAD_LOCK_SECONDS);
    False when another holds the lock or the load failed (the caller looks its visitor up alone)."""
    hash_key, seen_key, sessions_key, *_ = _keys(session_id)
    if not client.set(f"{hash_key}:loading", "1", nx=True, ex=LOAD_LOCK_SECONDS):
        return False
    rows = list(
        WatchEvidence.objects.filter(session_id=session_id)
        .order_by("visitor_id")
        .values_list("visitor_id", "first_poll_at", "last_poll_at", "watched_seconds", "polls")
    )
    batches = [rows[start : start + SETTLE_BATCH] for start in range(0, len(rows), SETTLE_BATCH)] or [[]]
    for number, batch in enumerate(batches, start=1):
        args = [BUFFER_TTL_SECONDS, session_id, "1" if number == len(batches) else ""]
        for visitor, first, last, secs, polls in batch:
            args += [visitor, f"{_epoch(first)} {_epoch(last)} {secs} {polls}", last.timestamp()]
        _eval(client, _LOAD_LUA, [hash_key, seen_key, sessions_key], args)
    return True


def _record_in_database(*, session_id: int, visitor_id: str, now: dt.datetime, network: str) -> bool:
    row = WatchEvidence.objects.filter(session_id=session_id, visitor_id=visitor_id).first()
    if row is None:
        if _new_watchers_capped(network):
            return False
        try:
            with transaction.atomic():
                WatchEvidence.objects.create(
                    session_id=session_id, visitor_id=visitor_id, first_poll_at=now, last_poll_at=now
                )
            return True
        except IntegrityError:
            return False  # another worker recorded this visitor's first poll at the same instant
    gap = (now - row.last_poll_at).total_seconds()
    if gap < WRITE_EVERY_SECONDS:
        return False
    credit = int(min(gap, MAX_GAP_SECONDS))
    updated = WatchEvidence.objects.filter(pk=row.pk, last_poll_at=row.last_poll_at).update(
        last_poll_at=now, watched_seconds=row.watched_seconds + credit, polls=row.polls + 1
    )
    return bool(updated)  # 0: a concurrent poll of the same visitor won; this one would double-count


def _new_watchers_capped(network: str) -> bool:
    from commerce.ratelimit import Limit, rate_limits_hit

    limit = Limit(
        "watch_new",
        network,
        settings.WATCH_NEW_VISITORS_PER_NETWORK,
        settings.WATCH_NEW_VISITORS_WINDOW_SECONDS,
    )
    return rate_limits_hit([limit]) is not None


def watched_seconds(*, session_id: int, visitor_id: str | None) -> int:
    """Seconds of the live session this visitor is credited with (0 if never seen).

    The buffer's figure when it has one (ahead of the table between flushes), else the WatchEvidence
    row's; the row's when Redis cannot be reached (then up to a flush behind). (A Redis restored from an
    older snapshot can be behind the table until the next flush raises it: docs/deployment.md.)
    """
    if not visitor_id:
        return 0
    client = _redis()
    if client is not None:
        try:
            state = client.hget(_keys(session_id)[0], visitor_id)
        except RedisError as exc:
            log.warning("watch evidence: Redis unavailable, reading the table: %s", exc)
            state = None
        if state is not None:
            return int(state.split()[2])
    return (
        WatchEvidence.objects.filter(session_id=session_id, visitor_id=visitor_id)
        .values_list("watched_seconds", flat=True)
        .first()
        or 0
    )


def viewers_now(*, session_id: int, now: dt.datetime) -> int:
    """Distinct visitors whose polls of the session were recorded in the last VIEWERS_NOW_SECONDS (from
    the buffer; from the table without one, or when Redis cannot be reached: then up to a flush behind)."""
    since = now - dt.timedelta(seconds=VIEWERS_NOW_SECONDS)
    client = _redis()
    if client is not None:
        seen_key = _keys(session_id)[1]
        try:
            if client.exists(seen_key):
                return int(client.zcount(seen_key, since.timestamp(), "+inf"))
        except RedisError as exc:
            log.warning("watch evidence: Redis unavailable, counting from the table: %s", exc)
    return WatchEvidence.objects.filter(session_id=session_id, last_poll_at__gte=since).count()


def watch_evidence_flush(*, session_id: int | None = None, now: dt.datetime | None = None) -> int:
    """Copy buffered watch evidence (Redis) into WatchEvidence; returns the rows written.

    All sessions with buffered state, or only `session_id`. Each run copies the visitors whose state
    changed since a run last took them (a per-session "changed" set the beat script fills), in visitor
    order; a session's final copy, when it is no longer live (or is gone) and its last beat is older
    than BUFFER_KEEP_AFTER_SECONDS, copies every visitor and then drops the buffer. Idempotent and safe
    to run concurrently or to kill at any point: the upsert only moves first/last poll, seconds and
    polls forward, and a taken visitor leaves the "taken" set only after its copy committed and only if
    its state is still the one copied (_SETTLE_LUA, which also raises the buffer where the table is
    ahead). One
    session's failure is logged and does not stop the others. Without Redis: 0 (the beats were written
    to the table directly).
    """
    client = _redis()
    if client is None:
        return 0
    now = now or timezone.now()
    sessions_key = _keys(0)[2]
    ids = [session_id] if session_id is not None else sorted(int(i) for i in client.smembers(sessions_key))
    live = set(LiveSession.objects.filter(pk__in=ids, status=LiveSession.Status.LIVE).values_list("pk", flat=True))
    present = set(LiveSession.objects.filter(pk__in=ids).values_list("pk", flat=True))
    written = 0
    for sid in ids:
        try:
            written += _flush_session(client, sid, present=sid in present, live=sid in live, now=now)
        except Exception:
            if session_id is not None:
                raise  # a caller flushing one session (the credit sweep) must not go on without it
            log.exception("watch evidence: flushing session %s failed; the others go on", sid)
    if written:
        log.info("watch evidence: %d rows flushed from %d sessions", written, len(ids))
    return written


def _flush_session(client, sid: int, *, present: bool, live: bool, now: dt.datetime) -> int:
    hash_key, seen_key, sessions_key, changed_key, taken_key = _keys(sid)
    newest = client.zrevrange(seen_key, 0, 0, withscores=True)
    final = not live and now.timestamp() - (newest[0][1] if newest else 0.0) > BUFFER_KEEP_AFTER_SECONDS
    taken = _eval(client, _TAKE_LUA, [changed_key, taken_key], [BUFFER_TTL_SECONDS])
    if final:
        states = client.hgetall(hash_key)
    else:
        visitors = sorted(taken)
        states = dict(zip(visitors, client.hmget(hash_key, visitors), strict=True)) if visitors else {}
    rows, invalid, copied = [], [], {}
    for visitor, state in sorted(states.items()):
        name = visitor.decode()
        if name == COMPLETE or state is None:
            continue
        if not is_visitor_id(name):  # never written by the beat script today; a leftover must not block
            invalid.append(visitor)
            continue
        first, last, secs, polls = state.split()
        rows.append((name, _from_epoch(first), _from_epoch(last), int(secs), int(polls)))
        copied[name] = state.decode()
    merged = _upsert(sid, rows) if present else {}
    written = len(merged)
    if invalid:
        client.hdel(hash_key, *invalid)
    if taken and not present:
        client.srem(taken_key, *taken)  # nothing to copy into: the session is gone
    elif taken or merged:
        names = sorted({v.decode() for v in taken} | set(merged))
        for start in range(0, len(names), SETTLE_BATCH):
            args = []
            for name in names[start : start + SETTLE_BATCH]:
                args += [name, copied.get(name, ""), merged.get(name, "")]
            _eval(client, _SETTLE_LUA, [hash_key, taken_key, seen_key], args)
    if final:
        client.delete(hash_key, seen_key, changed_key, taken_key)
        client.srem(sessions_key, sid)
        return written
    client.zremrangebyscore(seen_key, "-inf", now.timestamp() - BUFFER_KEEP_AFTER_SECONDS)
    # a complete buffer whose table has a row it lacks (a Redis restored from an older snapshot) is not
    if (
        present
        and client.hexists(hash_key, COMPLETE)
        and WatchEvidence.objects.filter(session_id=sid).count() > client.hlen(hash_key) - 1
    ):
        client.hdel(hash_key, COMPLETE)
    return written


def _upsert(session_id: int, rows: list[tuple[str, dt.datetime, dt.datetime, int, int]]) -> dict[str, str]:
    """INSERT … ON CONFLICT (session, visitor) DO UPDATE, keeping the earlier first poll and the larger
    of everything else (PostgreSQL's LEAST/GREATEST, SQLite's two-argument MIN/MAX). Returns each
    visitor's row as it is after the upsert, in the buffer's format ("first last seconds polls", epoch
    seconds) from RETURNING (PostgreSQL; SQLite ≥ 3.35). Batches stay under the backend's parameter
    limit (SQLite: 999)."""
    if not rows:
        return {}
    meta = WatchEvidence._meta
    q = connection.ops.quote_name
    table = q(meta.db_table)
    col = {name: q(meta.get_field(name).column) for name in _UPSERT_FIELDS}
    least, greatest = ("LEAST", "GREATEST") if connection.vendor == "postgresql" else ("MIN", "MAX")
    keep = [(col["first_poll_at"], least)] + [(col[f], greatest) for f in _UPSERT_FIELDS[3:]]
    conflict = (
        f" ON CONFLICT ({col['session']}, {col['visitor_id']}) DO UPDATE SET "
        + ", ".join(f"{c} = {fn}({table}.{c}, EXCLUDED.{c})" for c, fn in keep)
    )
    returning = " RETURNING " + ", ".join(col[f] for f in _UPSERT_FIELDS[1:])
    adapt = connection.ops.adapt_datetimefield_value
    per_statement = min(FLUSH_BATCH, (connection.features.max_query_params or 6 * FLUSH_BATCH) // 6)
    merged = {}
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            batch = rows[start : start + per_statement]
            params = []
            for visitor, first, last, secs, polls in batch:
                params += [session_id, visitor, adapt(first), adapt(last), secs, polls]
            values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(batch))
            sql = f"INSERT INTO {table} ({', '.join(col.values())}) VALUES {values}{conflict}{returning}"  # noqa: S608 - quoted names and placeholders only
            cursor.execute(sql, params)
            for visitor, first, last, secs, polls in cursor.fetchall():
                merged[visitor] = f"{_epoch(_as_utc(first))} {_epoch(_as_utc(last))} {int(secs)} {int(polls)}"
    return merged


def _as_utc(value) -> dt.datetime:
    """A datetime column read by a raw cursor: aware on PostgreSQL, a naive UTC string on SQLite."""
    if isinstance(value, str):
        value = parse_datetime(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


_UPSERT_FIELDS = ("session", "visitor_id", "first_poll_at", "last_poll_at", "watched_seconds", "polls")
