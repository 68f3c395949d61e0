"""Partner API keys: create (secret shown once), revoke, authenticate."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from django.utils import timezone

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


def api_key_authenticate(raw: str, *, now: dt.datetime | None = None) -> ApiKey | None:
    """The active ApiKey for a presented raw key, or None (unknown, wrong secret, revoked, inactive partner)."""
    parts = (raw or "").strip().split("_", 2)
    if len(parts) != 3 or parts[0] != "mm":
        return None
    key = ApiKey.objects.select_related("partner").filter(prefix=parts[1]).first()
    if key is None or not hmac.compare_digest(key.key_hash, _digest(raw.strip())) or not key.is_active:
        return None
    now = now or timezone.now()
    if key.last_used_at is None or now - key.last_used_at > dt.timedelta(minutes=1):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key
