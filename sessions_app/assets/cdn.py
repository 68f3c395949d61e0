"""The CDN seam: where a provider's purge and prefetch calls plug in.

settings.ASSET_CDN_PROVIDER picks the provider: "none" (default: no CDN; calls do nothing),
"logging" (logs every call and keeps the last calls in `LoggingCdn.calls`, for staging and
tests), or a dotted path to a class with the same two methods (e.g. a CloudFront
CreateInvalidation client). Calls are made by the outbox sender `asset.cdn` after the hot-set
transaction committed, so a crash between the decision and the call loses nothing and a
retried call is harmless (purge and prefetch are idempotent at every CDN).
"""

from __future__ import annotations

import logging
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


class CdnProvider(Protocol):
    def purge(self, urls: list[str]) -> None:
        """Drop these URLs from every edge cache (raise to have the outbox retry)."""

    def prefetch(self, urls: list[str]) -> None:
        """Warm the edge with these URLs (raise to have the outbox retry)."""


class NoCdn:
    """No CDN in front: nothing to purge or prefetch."""

    def purge(self, urls: list[str]) -> None:
        return None

    def prefetch(self, urls: list[str]) -> None:
        return None


class LoggingCdn:
    """Logs each call; `calls` keeps them as ("purge"|"prefetch", urls) in order (class-wide)."""

    calls: list[tuple[str, list[str]]] = []

    def purge(self, urls: list[str]) -> None:
        logger.info("cdn purge %d url(s): %s", len(urls), urls[:20])
        LoggingCdn.calls.append(("purge", list(urls)))

    def prefetch(self, urls: list[str]) -> None:
        logger.info("cdn prefetch %d url(s): %s", len(urls), urls[:20])
        LoggingCdn.calls.append(("prefetch", list(urls)))


PROVIDERS = {"none": NoCdn, "logging": LoggingCdn}


def cdn_provider() -> CdnProvider:
    """The configured provider instance (settings.ASSET_CDN_PROVIDER)."""
    name = getattr(settings, "ASSET_CDN_PROVIDER", "none") or "none"
    cls = PROVIDERS.get(name) or import_string(name)
    return cls()


def cdn_send(delivery) -> None:
    """Outbox sender for `asset.cdn`: payload {"purge": [urls], "prefetch": [urls]}."""
    provider = cdn_provider()
    if delivery.payload.get("purge"):
        provider.purge(delivery.payload["purge"])
    if delivery.payload.get("prefetch"):
        provider.prefetch(delivery.payload["prefetch"])
