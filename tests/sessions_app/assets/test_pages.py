"""Replay and clip pages: shared HTML, OpenGraph/Twitter tags, restoring state, what a clip sells,
and a purchase started on a clip page attributed to that clip (docs/replay-and-clips.md)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from analytics import services as analytics_services
from analytics.models import Event
from commerce.models import Hold, Order
from commerce.services.orders import order_mark_paid
from sessions_app.assets import selectors
from sessions_app.assets.models import Clip
from sessions_app.models import LiveSession
from tests.factories import LiveSessionFactory, make_drop
from tests.pageview import page_view_post

from .pages_world import ended_session_with_clip

pytestmark = pytest.mark.django_db
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"


def _meta(html: str, attr: str, name: str) -> str | None:
    match = re.search(rf'<meta {attr}="{re.escape(name)}" content="([^"]*)"', html)
    return match.group(1) if match else None


def test_two_visitors_get_identical_shared_html_that_a_cdn_may_cache():
    clip = ended_session_with_clip()
    url = reverse("sessions_app:clip", args=[clip.public_id])
    first = Client(headers={"User-Agent": BROWSER}).get(url)
    second = Client(headers={"User-Agent": BROWSER}).get(url)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    for response in (first, second):
        assert "public" in response["Cache-Control"] and "max-age=30" in response["Cache-Control"]
        assert not response.cookies  # no visitor cookie on a page a CDN may hand to the next viewer
        assert "Cookie" not in response.get("Vary", "")
    assert b"csrfmiddlewaretoken" not in first.content


def test_a_staff_viewer_gets_a_private_copy():
    clip = ended_session_with_clip()
    client = Client(headers={"User-Agent": BROWSER})
    client.cookies["sessionid"] = "x"
    response = client.get(reverse("sessions_app:clip", args=[clip.public_id]))
    assert response.status_code == 200
    assert "private" in response["Cache-Control"]


def test_clip_page_has_opengraph_and_twitter_tags_with_absolute_urls(settings):
    settings.SITE_URL = "https://shop.example"
    clip = ended_session_with_clip()
    html = Client().get(reverse("sessions_app:clip", args=[clip.public_id])).content.decode()
    assert _meta(html, "property", "og:type") == "video.other"
    assert _meta(html, "property", "og:title") == "The bunny wakes up"
    assert _meta(html, "property", "og:video").startswith("https://shop.example/")
    assert _meta(html, "property", "og:video").endswith(f"{clip.asset.sha256}.mp4")
    assert _meta(html, "property", "og:video:type") == "video/mp4"
    assert (_meta(html, "property", "og:video:width"), _meta(html, "property", "og:video:height")) == ("1280", "720")
    assert _meta(html, "property", "og:image") == selectors.absolute(selectors.asset_link(clip.poster))
    assert _meta(html, "property", "og:image").startswith("https://shop.example/")
    assert _meta(html, "name", "twitter:card") == "player"
    canonical = f"https://shop.example/c/{clip.public_id}/"
    assert f'<link rel="canonical" href="{canonical}">' in html
    assert _meta(html, "property", "og:url") == canonical
    assert "<video" in html and f'poster="{selectors.asset_link(clip.poster)}"' in html


def test_a_clip_in_the_archive_shows_restoring_with_an_estimate_never_a_player(monkeypatch):
    clip = ended_session_with_clip()
    eta = timezone.now() + dt.timedelta(hours=4)
    monkeypatch.setattr(selectors, "_availability", lambda obj: ("restoring", eta))
    monkeypatch.setattr(selectors, "_asset_url", lambda obj, download_name=None: None if obj.kind == "clip" else "/p.jpg")
    html = Client().get(reverse("sessions_app:clip", args=[clip.public_id])).content.decode()
    assert "<video" not in html
    assert 'data-clip-state="restoring"' in html
    assert "Restoring from the archive" in html and "ready about" in html
    assert _meta(html, "property", "og:video") is None  # no broken preview either
    assert _meta(html, "name", "twitter:card") == "summary_large_image"


def test_unpublished_failed_and_unknown_clips_are_404():
    hidden = ended_session_with_clip(public=False)
    assert Client().get(reverse("sessions_app:clip", args=[hidden.public_id])).status_code == 404
    Clip.objects.filter(pk=hidden.pk).update(is_public=True, state=Clip.State.FAILED)
    assert Client().get(reverse("sessions_app:clip", args=[hidden.public_id])).status_code == 404
    assert Client().get("/c/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert Client().get(reverse("sessions_app:clip_buy", args=[hidden.public_id])).status_code == 404


def test_replay_page_lists_public_clips_with_the_drop_and_the_recording():
    clip = ended_session_with_clip()
    ended_hidden = Clip.objects.create(
        session=clip.session, recording=clip.recording, title="Secret", start_ms=0, end_ms=1000, is_public=False
    )
    response = Client().get(reverse("sessions_app:replay", args=[clip.session.public_id]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "The bunny wakes up" in html and "Secret" not in html and str(ended_hidden.public_id) not in html
    assert f'data-drop="{clip.drop_id}"' in html and 'data-state="closed"' in html
    assert "data-recording" in html and clip.recording.asset.sha256 in html


def test_replay_page_is_only_for_ended_sessions():
    live = LiveSessionFactory()
    assert Client().get(reverse("sessions_app:replay", args=[live.public_id])).status_code == 404


def test_session_page_and_home_link_the_replay_of_an_ended_session():
    clip = ended_session_with_clip()
    replay = reverse("sessions_app:replay", args=[clip.session.public_id])
    assert replay in Client().get(clip.session.get_absolute_url()).content.decode()
    home = Client().get(reverse("sessions_app:home")).content.decode()
    assert replay in home
    # once, in the page body: the tab title stays plain text (a template slip had put the Replays
    # section inside <title> as well)
    title = re.search(r"<title>(.*?)</title>", home, re.S).group(1)
    assert "<" not in title and "Replays" not in title and home.count("data-replay") == 1


def test_an_ended_sessions_clip_sells_the_same_skus_drop_of_a_session_on_air():
    clip = ended_session_with_clip()
    offer = selectors.clip_offer(clip=clip)
    assert (offer.kind, offer.buyable, offer.status["state"]) == ("closed", False, "closed")
    # the buy link of a closed offer goes back to the clip page
    response = Client().get(reverse("sessions_app:clip_buy", args=[clip.public_id]))
    assert response.status_code == 302 and response["Location"] == reverse("sessions_app:clip", args=[clip.public_id])
    # a later session sells the same SKU: the clip page sells that drop
    later = make_drop(session=LiveSessionFactory(), sku=clip.drop.sku, quantity=3)
    offer = selectors.clip_offer(clip=clip)
    assert (offer.kind, offer.drop.pk, offer.buyable) == ("next_drop", later.pk, True)
    html = Client().get(reverse("sessions_app:clip", args=[clip.public_id])).content.decode()
    assert f'data-drop="{later.pk}"' in html and 'data-offer="next_drop"' in html


def test_a_scheduled_sessions_drop_of_the_same_sku_is_shown_not_buyable():
    clip = ended_session_with_clip()
    upcoming = LiveSessionFactory(status=LiveSession.Status.SCHEDULED, starts_at=timezone.now() + dt.timedelta(days=2))
    planned = make_drop(session=upcoming, sku=clip.drop.sku, opens_in=2 * 86400, closes_in=2 * 86400 + 3600)
    offer = selectors.clip_offer(clip=clip)
    assert (offer.kind, offer.drop.pk, offer.buyable) == ("next_drop", planned.pk, False)


def test_a_purchase_started_on_a_clip_page_is_attributed_to_that_clip(django_capture_on_commit_callbacks):
    # given a clip of an ended session whose SKU sells again in a live session
    clip = ended_session_with_clip()
    other = ended_session_with_clip(title="Another clip")
    drop = make_drop(session=LiveSessionFactory(), sku=clip.drop.sku, quantity=5)
    viewer = Client(headers={"User-Agent": BROWSER})
    bystander = Client(headers={"User-Agent": BROWSER})
    # when a viewer watches the clip, clicks Buy now, holds and orders, and the order is paid
    with django_capture_on_commit_callbacks(execute=True):
        page = viewer.get(reverse("sessions_app:clip", args=[clip.public_id]))
        assert page_view_post(viewer, page).status_code == 202  # js/view.js
        response = viewer.get(reverse("sessions_app:clip_buy", args=[clip.public_id]))
        assert response.status_code == 302 and response["Location"] == reverse("commerce:checkout", args=[drop.pk])
        viewer.post(response["Location"], {"email": "ann@example.com", "quantity": 2})
        hold = Hold.objects.get()
        viewer.post(reverse("commerce:hold", args=[hold.token]), {"coupon_code": "", "pay": "1"})
        page_view_post(bystander, bystander.get(reverse("sessions_app:clip", args=[other.public_id])))  # a view is not a sale
    analytics_services.events_flush_all()
    order = Order.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        order_mark_paid(order_id=order.pk)
    analytics_services.events_flush_all()
    # then the click carries the clip as its source and the sale is the clip's, not the other clip's
    click = Event.objects.get(name="click")
    assert click.props["source"] == f"clip:{clip.public_id}" and click.drop_id == drop.pk
    sales = selectors.clip_sales(clip=clip)
    assert sales == {
        "clicks": 1, "carts": 1, "checkouts": 1, "purchases": 1,
        "revenue_minor": order.total_minor, "currency": order.currency,
    }
    assert selectors.clip_sales(clip=other)["purchases"] == 0
    assert Event.objects.filter(name="view", props__source=f"clip:{clip.public_id}").count() == 1


def test_a_later_click_from_elsewhere_takes_the_sale_over(django_capture_on_commit_callbacks):
    clip = ended_session_with_clip()
    drop = make_drop(session=LiveSessionFactory(), sku=clip.drop.sku, quantity=5)
    viewer = Client(headers={"User-Agent": BROWSER})
    with django_capture_on_commit_callbacks(execute=True):
        viewer.get(reverse("sessions_app:clip_buy", args=[clip.public_id]))
        viewer.get(reverse("analytics:click", args=[drop.pk]))  # then Buy now on the live session page
        viewer.post(reverse("commerce:checkout", args=[drop.pk]), {"email": "bo@example.com", "quantity": 1})
    analytics_services.events_flush_all()
    assert selectors.clip_sales(clip=clip)["clicks"] == 1
    assert selectors.clip_sales(clip=clip)["carts"] == 0


def test_a_clip_page_view_is_counted_on_the_clips_object_but_not_for_preview_crawlers(monkeypatch):
    clip = ended_session_with_clip()
    counted = []
    monkeypatch.setattr(selectors, "_delivery_record", lambda **kw: counted.append(kw))
    url = reverse("sessions_app:clip", args=[clip.public_id])
    Client(headers={"User-Agent": BROWSER}).get(url)
    Client(headers={"User-Agent": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"}).get(url)
    assert counted == [{"asset_id": clip.asset_id, "views": 1}]


def test_a_viewer_opening_an_archived_clips_page_starts_its_restore():
    # given a public clip whose file went to the archive tier (nobody asked for it back yet)
    from sessions_app.assets.models import AssetObject

    clip = ended_session_with_clip()
    AssetObject.objects.filter(pk=clip.asset_id).update(tier="archive")
    # when a crawler fetches the page for a preview, nothing is restored
    bot = Client(headers={"User-Agent": "Twitterbot/1.0"}).get(reverse("sessions_app:clip", args=[clip.public_id]))
    assert bot.status_code == 200 and AssetObject.objects.get(pk=clip.asset_id).restore == ""
    selectors_cache_clear()
    # when a viewer opens it, the restore is requested and the page says so with an estimate (QA F3)
    html = Client().get(reverse("sessions_app:clip", args=[clip.public_id])).content.decode()
    assert AssetObject.objects.get(pk=clip.asset_id).restore == "requested"
    assert 'data-clip-state="restoring"' in html and "ready about" in html and "<video" not in html


def selectors_cache_clear():
    from django.core.cache import cache

    cache.clear()  # the shared page cache kept the crawler's copy for 10 s


def test_the_twitter_player_card_points_at_an_embeddable_player_the_clip_page_itself_is_not():
    # given a public clip
    clip = ended_session_with_clip()
    page = Client().get(reverse("sessions_app:clip", args=[clip.public_id]))
    html = page.content.decode()
    embed_url = _meta(html, "name", "twitter:player")
    # then the card's player is the embed page, not the clip page that refuses framing (QA F5)
    assert embed_url and embed_url.endswith(f"/c/{clip.public_id}/embed/")
    assert page["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in page["Content-Security-Policy"]
    embed = Client().get(embed_url.split("://", 1)[1].split("/", 1)[1].join(["/", ""]))
    assert embed.status_code == 200 and "X-Frame-Options" not in embed
    assert "frame-ancestors https:" in embed["Content-Security-Policy"]
    body = embed.content.decode()
    assert "<video" in body and "<form" not in body and "csrftoken" not in embed.cookies
    # and a hidden clip has no embed either
    hidden = ended_session_with_clip(public=False)
    assert Client().get(reverse("sessions_app:clip_embed", args=[hidden.public_id])).status_code == 404
