"""Fetch a URL from a catalog file without letting the file reach our own network (SSRF guard).

A catalog is untrusted input, and "fetch this image URL" from a server is a classic way into
internal services (cloud metadata at 169.254.169.254, an admin on 127.0.0.1, a database on a
private network). `fetch_image_bytes(url)`:

- takes only absolute http(s) URLs (commerce.weburls) and no credentials in the URL;
- resolves the host name itself and connects **to the address it checked** (a urllib3 connection
  class does the resolving, so a DNS answer that changes between check and connect cannot slip
  through); every address must be public (`ipaddress.is_global`, not multicast); loopback is
  allowed only with PRODUCT_IMAGE_FETCH_ALLOW_LOOPBACK (tests' local image server);
- follows at most MAX_REDIRECTS redirects, each checked the same way; ignores proxy settings of
  the environment (a proxy would connect for us, unchecked);
- times out (connect, read, and a whole-download deadline) and stops reading past
  PRODUCT_IMAGE_MAX_BYTES; refuses a non-200 answer and a Content-Type that is not image/*.

We keep this small module rather than a library: `advocate` (the known requests wrapper) has had
no release since 2020 and does not support urllib3 2.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util import connection as urllib3_connection

from .weburls import web_url_problem

MAX_REDIRECTS = 3
CHUNK = 64 * 1024
USER_AGENT = "Micromoments catalog image fetcher"


class FetchError(Exception):
    """The image could not be fetched; the message is for staff (shown in the admin)."""


class FetchRefused(FetchError):
    """The URL points somewhere we never fetch from (a private or loopback address, a bad scheme)."""


def address_allowed(ip: str) -> bool:
    """True for a public unicast address (or loopback when PRODUCT_IMAGE_FETCH_ALLOW_LOOPBACK is on)."""
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.is_loopback:
        return bool(getattr(settings, "PRODUCT_IMAGE_FETCH_ALLOW_LOOPBACK", False))
    return address.is_global and not address.is_multicast


def resolve_allowed(host: str, port: int) -> list[tuple[int, str]]:
    """[(family, ip)] for `host`; raises FetchRefused if any address is not allowed, FetchError if none."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"unreachable: cannot resolve {host!r} ({exc})") from exc
    addresses = []
    for family, _type, _proto, _canon, sockaddr in infos:
        ip = sockaddr[0]
        if not address_allowed(ip):
            raise FetchRefused(f"refused: {host!r} resolves to {ip}, not a public address")
        addresses.append((family, ip))
    if not addresses:
        raise FetchError(f"unreachable: no address for {host!r}")
    return addresses


class _CheckedConnectionMixin:
    """Resolve, check every address, then connect to a checked address (no second DNS lookup)."""

    def _new_conn(self) -> socket.socket:
        last: OSError | None = None
        for _family, ip in resolve_allowed(self._dns_host, self.port):
            try:
                return urllib3_connection.create_connection(
                    (ip, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except OSError as exc:
                last = exc
        raise FetchError(f"unreachable: cannot connect to {self.host} ({last})")


class _CheckedHTTPConnection(_CheckedConnectionMixin, HTTPConnection):
    pass


class _CheckedHTTPSConnection(_CheckedConnectionMixin, HTTPSConnection):
    pass


class _CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


class _CheckedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _CheckedHTTPPool, "https": _CheckedHTTPSPool}


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxies or .netrc from the environment
    adapter = _CheckedAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    session.headers["Accept"] = "image/webp,image/png,image/jpeg,image/gif;q=0.9"
    return session


def _check_url(url: str) -> None:
    if problem := web_url_problem(url):
        raise FetchRefused(f"refused: the URL {problem}")
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise FetchRefused("refused: the URL carries a user name or password")


def fetch_image_bytes(url: str) -> tuple[bytes, str]:
    """GET an image URL safely; returns (body bytes, content type).

    Raises FetchRefused for URLs we never fetch (not http(s), credentials, a non-public address,
    also after a redirect) and FetchError when the server is unreachable, slow, answers non-200,
    sends a non-image Content-Type or more than PRODUCT_IMAGE_MAX_BYTES. Limits: settings
    PRODUCT_IMAGE_FETCH_CONNECT_TIMEOUT / _READ_TIMEOUT / _DEADLINE (seconds).
    """
    max_bytes = int(settings.PRODUCT_IMAGE_MAX_BYTES)
    timeout = (float(settings.PRODUCT_IMAGE_FETCH_CONNECT_TIMEOUT), float(settings.PRODUCT_IMAGE_FETCH_READ_TIMEOUT))
    deadline = time.monotonic() + float(settings.PRODUCT_IMAGE_FETCH_DEADLINE)
    with _session() as session:
        for _hop in range(MAX_REDIRECTS + 1):
            _check_url(url)
            try:
                response = session.get(url, stream=True, timeout=timeout, allow_redirects=False)
            except FetchError:
                raise
            except requests.RequestException as exc:
                cause = exc.__context__ if isinstance(exc.__context__, FetchError) else None
                if cause is not None:
                    raise cause from exc
                raise FetchError(f"unreachable: {type(exc).__name__}: {exc}") from exc
            with response:
                if response.is_redirect:
                    location = response.headers.get("Location", "")
                    url = urljoin(url, location)
                    continue
                if response.status_code != 200:
                    raise FetchError(f"the server answered HTTP {response.status_code}")
                content_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
                if not content_type.startswith("image/"):
                    raise FetchError(f"not an image: Content-Type {content_type or '(none)'}")
                declared = response.headers.get("Content-Length", "")
                if declared.isdecimal() and int(declared) > max_bytes:
                    raise FetchError(f"too large: {int(declared)} bytes (limit {max_bytes})")
                body = bytearray()
                try:
                    for chunk in response.iter_content(CHUNK):
                        body += chunk
                        if len(body) > max_bytes:
                            raise FetchError(f"too large: more than {max_bytes} bytes")
                        if time.monotonic() > deadline:
                            raise FetchError("too slow: the download did not finish in time")
                except requests.RequestException as exc:
                    raise FetchError(f"unreachable: {type(exc).__name__}: {exc}") from exc
                return bytes(body), content_type
        raise FetchError(f"too many redirects (more than {MAX_REDIRECTS})")
