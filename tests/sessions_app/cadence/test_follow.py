"""Following a series: double opt-in, no leak of whether an address follows, RFC 8058 one-click unsubscribe."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from commerce.models import Customer, OutboxMessage
from commerce.services.outbox import outbox_drain
from sampling.audience import signals_for
from sampling.targeting import priority_score
from sessions_app.cadence.models import SeriesFollower
from tests.sessions_app.cadence.helpers import followers, make_series, session_at

pytestmark = pytest.mark.django_db


@pytest.fixture
def series():
    s = make_series(slug="tuesday-live", weekday=1, local_time=dt.time(18, 0))
    session_at(s, timezone.now() + dt.timedelta(days=2))
    return s


def follow(client, series, email):
    return client.post(f"/series/{series.slug}/", {"email": email})


def link(body: str, kind: str) -> str:
    return re.search(rf"https?://\S+/series/{kind}\S*", body).group(0)


def test_series_page_shows_cadence_sessions_and_calendar_links(client, series):
    page = client.get(f"/series/{series.slug}/").content.decode()
    assert "Tuesdays 18:00 Europe/Berlin" in page
    session = series.sessions.get()
    assert session.get_absolute_url() in page
    assert f"webcal://127.0.0.1:8000/series/{series.slug}/calendar.ics" in page or "webcal://" in page
    assert f"/series/{series.slug}/calendar.ics?download=1" in page


def test_following_answers_the_same_whatever_the_address_and_mails_only_that_address(client, series):
    followers(series, 1, prefix="known")  # known0@example.com already follows (confirmed)
    new = follow(client, series, "Ann@Example.com")
    known = follow(client, series, "known0@example.com")
    assert new.status_code == known.status_code == 200

    def answer(response):
        return re.search(r'data-answer="check_inbox">(.*?)</div>', response.content.decode(), re.S).group(1)

    assert answer(new) == answer(known)
    outbox_drain()
    assert [m.to for m in mail.outbox] == [["Ann@example.com"]]  # the confirmed one got nothing
    ann = SeriesFollower.objects.get(email_normalized="ann@example.com")
    assert ann.status == SeriesFollower.Status.PENDING
    assert ann.token in mail.outbox[0].body and ann.token not in new.content.decode()


def test_confirm_needs_a_post_a_get_only_shows_a_button(client, series):
    follow(client, series, "ann@example.com")
    outbox_drain()
    url = link(mail.outbox[0].body, "follow")
    path = url.split("8000", 1)[-1]
    page = client.get(path)
    assert page.status_code == 200 and b'<form method="post">' in page.content
    ann = SeriesFollower.objects.get()
    assert ann.status == SeriesFollower.Status.PENDING  # a mail scanner's prefetch confirms nothing
    Customer.objects.create(email="ann@example.com", email_normalized="ann@example.com")
    assert client.post(path).status_code == 200
    ann.refresh_from_db()
    assert ann.status == SeriesFollower.Status.CONFIRMED and ann.confirmed_at is not None
    assert ann.customer is not None
    assert client.post("/series/follow/forged-token/confirm/").status_code == 404


def test_every_email_carries_rfc8058_headers_and_a_visible_unsubscribe_link(client, series):
    follow(client, series, "ann@example.com")
    outbox_drain()
    message = mail.outbox[0]
    token = SeriesFollower.objects.get().token
    unsubscribe = f"http://127.0.0.1:8000/series/unsubscribe/{token}/"
    assert message.extra_headers["List-Unsubscribe"] == f"<{unsubscribe}>"
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.extra_headers["Message-ID"].startswith("<")
    assert unsubscribe in message.body


def test_one_click_unsubscribe_post_works_without_csrf_or_login_and_get_changes_nothing(series):
    (ann,) = followers(series, 1)
    strict = Client(enforce_csrf_checks=True)
    path = f"/series/unsubscribe/{ann.token}/"
    assert strict.get(path).status_code == 200
    ann.refresh_from_db()
    assert ann.status == SeriesFollower.Status.CONFIRMED
    response = strict.post(path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    ann.refresh_from_db()
    assert ann.status == SeriesFollower.Status.UNSUBSCRIBED and ann.unsubscribed_at is not None
    assert (
        strict.post(path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded").status_code
        == 200
    )
    assert (
        strict.post(
            "/series/unsubscribe/nope/", "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
        ).status_code
        == 404
    )


def test_following_again_after_unsubscribing_restarts_double_opt_in_with_a_new_token(client, series):
    (ann,) = followers(series, 1, prefix="ann")
    old = ann.token
    Client().post(f"/series/unsubscribe/{old}/")
    follow(client, series, "ann0@example.com")
    ann.refresh_from_db()
    assert ann.status == SeriesFollower.Status.PENDING and ann.token != old
    outbox_drain()
    assert len(mail.outbox) == 1 and ann.token in mail.outbox[0].body
    assert Client().post(f"/series/follow/{old}/confirm/").status_code == 404


def test_a_pending_address_is_not_mailed_again_within_the_resend_window(client, series):
    follow(client, series, "ann@example.com")
    follow(client, series, "ann@example.com")
    outbox_drain()
    assert len(mail.outbox) == 1


def test_the_follow_form_is_rate_limited_per_client(client, series, settings):
    settings.SERIES_FOLLOW_RATE_LIMIT_IP = 3
    codes = [follow(client, series, f"p{i}@example.com").status_code for i in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    assert SeriesFollower.objects.count() == 3


def test_a_bad_address_is_a_form_error_and_writes_nothing(client, series):
    response = follow(client, series, "not-an-address")
    assert response.status_code == 400 and b"errorlist" in response.content
    assert not SeriesFollower.objects.exists() and not OutboxMessage.objects.exists()


def test_unknown_series_is_404(client):
    assert client.get("/series/no-such-series/").status_code == 404
    assert client.get("/series/no-such-series/calendar.ics").status_code == 404


def test_following_is_an_audience_signal_for_sampling(series):
    (ann,) = followers(series, 1, prefix="ann")
    other = make_series(slug="other")
    signals = signals_for(email_normalized=ann.email_normalized, series_id=series.pk)
    assert signals.follows_series
    assert not signals_for(email_normalized=ann.email_normalized, series_id=other.pk).follows_series
    Client().post(f"/series/unsubscribe/{ann.token}/")
    assert not signals_for(email_normalized=ann.email_normalized, series_id=series.pk).follows_series
    score, reasons = priority_score(campaign=type("C", (), {"preferred_use_cases": []})(), signals=signals, use_case="")
    assert (score, reasons) == (10, ["follows_series"])


def test_home_page_links_each_active_series_page(client, series):
    page = client.get("/").content.decode()
    assert f'href="/series/{series.slug}/"' in page and "Tuesdays 18:00 Europe/Berlin" in page


def test_a_series_session_page_links_to_following_its_series(client, series):
    """QA: only the home page led to the follow form; a viewer on the live page had no way there."""
    session = session_at(series, timezone.now() + dt.timedelta(days=1))
    page = client.get(session.get_absolute_url()).content.decode()
    assert f'href="/series/{series.slug}/"' in page
    series.is_active = False
    series.save()
    cache.clear()  # the session page is shared-cached for 2 s
    assert f'href="/series/{series.slug}/"' not in client.get(session.get_absolute_url()).content.decode()
