"""gunicorn app for the micro-cache tests: the project (config.wsgi) plus probe URLs under /_edge/.

The project itself never sends `Cache-Control: public` together with a Set-Cookie, nor public
headers on a POST, so these probes give nginx exactly those responses to prove it does not store
them. Each probe answers a body unique to that origin request (`<pid>-<n>`), so a test can tell a
cached copy from a fresh one; everything else is the real project.

  /_edge/public          200, `Cache-Control: public, max-age=60` (any method); also /_edge/public/<anything>
  /_edge/public-cookie   the same plus a Set-Cookie
  /_edge/private         200, `Cache-Control: private, max-age=60`
  /media/a/<anything>    200, `Cache-Control: public, max-age=31536000, immutable`, Accept-Ranges, 1,000 bytes
                         (a hot session asset's headers, docs/assets.md)
"""

from __future__ import annotations

import itertools
import os

from config.wsgi import application as project

_served = itertools.count(1)

PROBES = {
    "/_edge/public": [("Cache-Control", "public, max-age=60")],
    "/_edge/public-cookie": [("Cache-Control", "public, max-age=60"), ("Set-Cookie", "probe=1; Path=/")],
    "/_edge/private": [("Cache-Control", "private, max-age=60")],
}
ASSET_HEADERS = [("Cache-Control", "public, max-age=31536000, immutable"), ("Accept-Ranges", "bytes")]


def application(environ, start_response):
    """WSGI: a probe for the paths above, the project for everything else."""
    path = environ.get("PATH_INFO", "")
    if path.startswith("/_edge/public/"):  # a fresh public URL per test (the access log counts paths)
        path = "/_edge/public"
    if path in PROBES or path.startswith("/media/a/"):
        stamp = f"{os.getpid()}-{next(_served)}".encode()
        if path.startswith("/media/a/"):
            headers, body = ASSET_HEADERS, stamp.ljust(1000, b".")
        else:
            headers, body = PROBES[path], stamp
        start_response(
            "200 OK",
            [("Content-Type", "text/plain"), ("Content-Length", str(len(body))), *headers],
        )
        return [body]
    return project(environ, start_response)
