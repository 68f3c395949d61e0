"""Turn a stream URL into something a page can embed."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse


def stream_embed(url: str) -> dict:
    """{"kind": "iframe"|"video"|"link"|"none", "src": str} for a stream URL.

    YouTube (watch, live, youtu.be) and Vimeo become their embed players; direct
    media files (.mp4, .webm, .m3u8) a <video>; anything else a link.
    """
    if not url:
        return {"kind": "none", "src": ""}
    parsed = urlparse(url)
    host = (parsed.hostname or "").lower().removeprefix("www.").removeprefix("m.")
    path = parsed.path
    if host in {"youtube.com", "youtube-nocookie.com"}:
        video = parse_qs(parsed.query).get("v", [""])[0]
        if not video and path.startswith(("/live/", "/embed/", "/shorts/")):
            video = path.split("/")[2]
        if video:
            return {"kind": "iframe", "src": f"https://www.youtube-nocookie.com/embed/{video}?autoplay=1&mute=1"}
    if host == "youtu.be" and path.strip("/"):
        return {"kind": "iframe", "src": f"https://www.youtube-nocookie.com/embed/{path.strip('/')}?autoplay=1&mute=1"}
    if host == "vimeo.com" and path.strip("/").split("/")[0].isdecimal():
        return {"kind": "iframe", "src": f"https://player.vimeo.com/video/{path.strip('/').split('/')[0]}"}
    if host == "player.vimeo.com":
        return {"kind": "iframe", "src": url}
    if path.lower().endswith((".mp4", ".webm", ".m3u8", ".ogg")):
        return {"kind": "video", "src": url}
    return {"kind": "link", "src": url}
