"""Partner API keys: create (secret shown once), revoke, authenticate."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from django.utils import timezone

from ..memo import MISSING, ProcessMemo
from ..models import ApiKey, Partner


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_key_create(*, partner: Partner, name: str, scopes: list[str] | None = None) -> tuple[ApiKey, str]:
    """Create a key; returns (ApiKey, raw key `mm_<prefix>_<secret>`). The raw key is not stored."""
    prefix = secrets.token_hex(4)
    raw = f"mm_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(partner=partner, name=name, prefix=prefix, key_hash=_digest(raw), scopes=scopes or [])
    return key, raw


def api_key_revoke(*, key_id: int, now: dt.datetime | None = None) -> ApiKey:
    """Revoke a key (idempotent; the first revocation time is kept)."""
    key = ApiKey.objects.get(pk=key_id)
    if key.revoked_at is None:
        key.revoked_at = now or timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


# Authenticated keys are remembered per process for API_KEY_CACHE_SECONDS, so a partner's burst
# of writes (a live drop) does not look its key up on every request. Saving a key or a partner in
# this process forgets them at once; other processes notice a revocation within that many seconds.
recent_keys = ProcessMemo("API_KEY_CACHE_SECONDS", 5)


def api_key_authenticate(raw: str, *, now: dt.datetime | None = None) -> ApiKey | None:
    """The active ApiKey for a presented raw key, or None (unknown, wrong secret, revoked, inactive partner).

    A key found active is remembered for API_KEY_CACHE_SECONDS (default 5 s) in this process;
    a revocation or deactivation therefore takes effect within that time on every web worker.
    """
    raw = (raw or "").strip()
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != "mm":
        return None
    digest = _digest(raw)
    if (remembered := recent_keys.get(digest)) is not MISSING:
        return remembered
    key = ApiKey.objects.select_related("partner").filter(prefix=parts[1]).first()
    if key is None or not hmac.compare_digest(key.key_hash, digest) or not key.is_active:
        return None
    now = now or timezone.now()
    if key.last_used_at is None or now - key.last_used_at > dt.timedelta(minutes=1):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    recent_keys.put(digest, key)
    return key
