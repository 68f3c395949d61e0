"""Real images made with Pillow, a crafted decompression bomb, and a local HTTP server that serves them."""

from __future__ import annotations

import io
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image, ImageDraw


def jpeg_bytes(width: int = 1200, height: int = 800, *, orientation: int | None = None) -> bytes:
    """A real JPEG photo-like picture (gradient and shapes); `orientation` sets the EXIF Orientation tag."""
    img = Image.new("RGB", (width, height), (200, 180, 150))
    draw = ImageDraw.Draw(img)
    for x in range(0, width, 40):
        draw.line([(x, 0), (x, height)], fill=(x % 255, 90, 160), width=12)
    draw.ellipse([width // 4, height // 4, width * 3 // 4, height * 3 // 4], fill=(30, 110, 70))
    out = io.BytesIO()
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    img.save(out, "JPEG", quality=85, exif=exif.tobytes())
    return out.getvalue()


def png_bytes(width: int = 300, height: int = 300, *, alpha: bool = True) -> bytes:
    img = Image.new("RGBA" if alpha else "RGB", (width, height), (10, 120, 200, 128) if alpha else (10, 120, 200))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def png_bomb(width: int = 60000, height: int = 60000) -> bytes:
    """A tiny PNG whose header declares width × height pixels (3.6 gigapixels by default)."""
    small = png_bytes(1, 1, alpha=False)
    ihdr_data = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr_data
    ihdr = struct.pack(">I", len(ihdr_data)) + chunk + struct.pack(">I", zlib.crc32(chunk) & 0xFFFFFFFF)
    # signature (8) + IHDR chunk (4 + 4 + 13 + 4 = 25) replaced, the rest (IDAT, IEND) kept
    return small[:8] + ihdr + small[33:]


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="10" height="10"/></svg>'


class ImageServer:
    """A catalog's image host on loopback. Routes (path → behaviour):

    /photo.jpg a real JPEG; /pic.png a PNG; /page.html text/html; /fake.jpg HTML labelled image/jpeg;
    /huge.jpg more bytes than any limit (streamed, no Content-Length); /missing.jpg 404;
    /slow.jpg answers after `slow_seconds`; /redirect?to=URL a 302 to URL.
    `hits` counts requests per path.
    """

    def __init__(self, *, slow_seconds: float = 5.0):
        self.photo = jpeg_bytes()
        self.slow_seconds = slow_seconds
        self.hits: dict[str, int] = {}
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def __enter__(self) -> ImageServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body: bytes, content_type: str, length: bool = True):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                if length:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802 (http.server's name)
                path, _, query = self.path.partition("?")
                with outer._lock:
                    outer.hits[path] = outer.hits.get(path, 0) + 1
                if path == "/photo.jpg":
                    self._send(200, outer.photo, "image/jpeg")
                elif path == "/pic.png":
                    self._send(200, png_bytes(), "image/png")
                elif path == "/page.html":
                    self._send(200, b"<html><body>not an image</body></html>", "text/html; charset=utf-8")
                elif path == "/fake.jpg":
                    self._send(200, b"<html><body>not an image</body></html>", "image/jpeg")
                elif path == "/huge.jpg":
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    self.end_headers()
                    try:
                        for _ in range(64):
                            self.wfile.write(b"\xff" * 65536)
                    except OSError:
                        pass  # the client stopped reading: what we want
                elif path == "/slow.jpg":
                    time.sleep(outer.slow_seconds)
                    self._send(200, outer.photo, "image/jpeg")
                elif path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", query.removeprefix("to="))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self._send(404, b"not found", "text/plain")

        return Handler
