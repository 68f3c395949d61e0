"""Hold abuse limits: rate limits per client and drop, a per-client cap across e-mails, fair answers."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from commerce.exceptions import ClientLimitExceeded, RateLimited
from commerce.limits import HoldClient, hold_client_cap
from commerce.models import Hold, Partner, RateCounter
from commerce.ratelimit import Limit, rate_limits_hit
from commerce.services.api_keys import api_key_create
from commerce.services.holds import hold_place
from tests.factories import make_drop

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _long_window(settings):
    """Fixed windows: an hour, so that a slow test run never crosses into the next window mid-test."""
    settings.HOLD_RATE_WINDOW_SECONDS = 3600


@pytest.fixture
def no_rate_limits(settings):
    settings.HOLD_RATE_LIMIT_CLIENT = 0
    settings.HOLD_RATE_LIMIT_CLIENT_DROP = 0
    settings.HOLD_RATE_LIMIT_API_KEY = 0


@pytest.mark.parametrize(
    ("share", "max_units", "quantity", "per_customer", "cap"),
    [
        (10, 0, 200, 2, 20),
        (10, 0, 15, 2, 2),  # 1.5 → 2
        (10, 0, 5, 2, 2),  # never below the per-customer limit
        (10, 5, 200, 2, 5),  # the smaller of the two
        (0, 7, 200, 2, 7),
        (0, 0, 200, 2, None),  # nothing configured: no cap
    ],
)
def test_cap_is_share_or_units_whichever_is_smaller(settings, share, max_units, quantity, per_customer, cap):
    settings.HOLD_CLIENT_SHARE_PERCENT, settings.HOLD_CLIENT_MAX_UNITS = share, max_units
    assert hold_client_cap(quantity=quantity, per_customer_limit=per_customer) == cap


def test_one_client_cannot_hold_more_than_its_share_across_e_mails(settings, no_rate_limits):
    settings.HOLD_CLIENT_SHARE_PERCENT = 10
    drop = make_drop(quantity=40, per_customer_limit=2)  # cap 4
    me = HoldClient(ip_network="198.51.100.7")
    hold_place(drop_id=drop.pk, email="a@example.com", quantity=2, client=me)
    hold_place(drop_id=drop.pk, email="b@example.com", quantity=1, client=me)
    with pytest.raises(ClientLimitExceeded) as exc:
        hold_place(drop_id=drop.pk, email="c@example.com", quantity=2, client=me)
    assert (exc.value.code, exc.value.status, exc.value.extra) == ("client_limit", 409, {"limit": 4, "already": 3})
    hold_place(drop_id=drop.pk, email="c@example.com", quantity=1, client=me)  # exactly the cap
    other = hold_place(drop_id=drop.pk, email="d@example.com", quantity=2, client=HoldClient(ip_network="203.0.113.9"))
    assert other.client_key == "ip:203.0.113.9"
    drop.refresh_from_db()
    assert drop.available == 40 - 4 - 2


def test_lapsed_holds_no_longer_count_against_the_cap(settings, no_rate_limits):
    settings.HOLD_CLIENT_SHARE_PERCENT = 10
    drop = make_drop(quantity=20, per_customer_limit=2, hold_seconds=60)  # cap 2
    me = HoldClient(ip_network="198.51.100.7")
    now = timezone.now()
    hold_place(drop_id=drop.pk, email="a@example.com", quantity=2, client=me, now=now)
    with pytest.raises(ClientLimitExceeded):
        hold_place(drop_id=drop.pk, email="b@example.com", quantity=1, client=me, now=now)
    later = now + dt.timedelta(seconds=61)
    assert hold_place(drop_id=drop.pk, email="b@example.com", quantity=2, client=me, now=later).status == "active"


def test_holds_without_a_client_are_not_capped(settings, no_rate_limits):
    settings.HOLD_CLIENT_SHARE_PERCENT = 10
    drop = make_drop(quantity=20, per_customer_limit=2)
    for i in range(3):
        hold_place(drop_id=drop.pk, email=f"staff{i}@example.com", quantity=2)
    assert Hold.objects.filter(drop=drop, client_key="").count() == 3


def test_rate_limit_per_client_and_drop_answers_retry_after(settings):
    settings.HOLD_RATE_LIMIT_CLIENT_DROP, settings.HOLD_RATE_LIMIT_CLIENT = 2, 100
    settings.HOLD_CLIENT_SHARE_PERCENT = 0
    drop, second = make_drop(quantity=50), make_drop(quantity=50)
    me = HoldClient(ip_network="198.51.100.7", visitor_id="a" * 32)
    for i in range(2):
        hold_place(drop_id=drop.pk, email=f"a{i}@example.com", quantity=1, client=me)
    with pytest.raises(RateLimited) as exc:
        hold_place(drop_id=drop.pk, email="a9@example.com", quantity=1, client=me)
    assert (exc.value.code, exc.value.status) == ("rate_limited", 429)
    assert 1 <= exc.value.extra["retry_after"] <= settings.HOLD_RATE_WINDOW_SECONDS
    hold_place(drop_id=second.pk, email="a9@example.com", quantity=1, client=me)  # another drop: its own budget
    # a new visitor cookie does not help: the IP network is still counted
    with pytest.raises(RateLimited):
        hold_place(drop_id=drop.pk, email="a9@example.com", quantity=1, client=HoldClient(ip_network="198.51.100.7"))


def test_rate_limit_by_visitor_cookie_across_networks(settings):
    settings.HOLD_RATE_LIMIT_CLIENT, settings.HOLD_RATE_LIMIT_CLIENT_DROP = 2, 100
    settings.HOLD_CLIENT_SHARE_PERCENT = 0
    drop = make_drop(quantity=50)
    for i in range(2):
        hold_place(drop_id=drop.pk, email=f"v{i}@example.com", quantity=1, client=HoldClient(f"10.0.0.{i}", "b" * 32))
    with pytest.raises(RateLimited):
        hold_place(drop_id=drop.pk, email="v9@example.com", quantity=1, client=HoldClient("10.0.0.9", "b" * 32))


def test_database_store_counts_in_fixed_windows(settings):
    settings.RATE_LIMIT_STORE = "database"
    lim = Limit("t", "client", 3, 60)
    assert [rate_limits_hit([lim], now=1200.0) for _ in range(3)] == [None, None, None]
    exceeded = rate_limits_hit([lim], now=1230.5)
    assert (exceeded.limit, exceeded.retry_after) == (lim, 30)
    assert rate_limits_hit([lim], now=1260.0) is None  # next window
    assert RateCounter.objects.count() == 2


def test_cache_store_counts_too(settings):
    settings.RATE_LIMIT_STORE = "cache"
    lim = Limit("t", "client", 1, 60)
    assert rate_limits_hit([lim]) is None
    assert rate_limits_hit([lim]) is not None
    assert RateCounter.objects.count() == 0


def test_redis_store_is_shared_and_expires(settings):
    redis = pytest.importorskip("redis")
    url = "redis://127.0.0.1:6379/3"
    try:
        redis.Redis.from_url(url).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("needs Redis on 127.0.0.1:6379 (CI has it)")
    import commerce.ratelimit as rl

    settings.REDIS_URL, settings.RATE_LIMIT_STORE = url, "redis"
    rl._redis_client = None
    lim = Limit("t", f"client-{timezone.now().timestamp()}", 2, 60)
    try:
        assert rate_limits_hit([lim]) is None
        rl._redis_client = None  # another process: another connection, the same counter
        assert rate_limits_hit([lim]) is None
        assert rate_limits_hit([lim]) is not None
        ttl = redis.Redis.from_url(url).ttl(f"mm:{lim.key(timezone.now().timestamp())}")
        assert 0 < ttl <= 61
    finally:
        rl._redis_client = None


# --- storefront and API answers --------------------------------------------------------


def test_storefront_page_says_why_with_409_and_429(client, settings):
    settings.HOLD_CLIENT_SHARE_PERCENT, settings.HOLD_RATE_LIMIT_CLIENT_DROP = 10, 3
    drop = make_drop(quantity=20, per_customer_limit=2)  # cap 2
    url = f"/drops/{drop.pk}/checkout/"
    first = client.post(url, {"email": "a@example.com", "quantity": 2}, REMOTE_ADDR="198.51.100.7")
    assert first.status_code == 302
    capped = client.post(url, {"email": "b@example.com", "quantity": 1}, REMOTE_ADDR="198.51.100.7")
    assert capped.status_code == 409
    assert "limited to 2 units per buyer" in capped.content.decode()
    other = client.post(url, {"email": "c@example.com", "quantity": 1}, REMOTE_ADDR="203.0.113.9")
    assert other.status_code == 302
    limited = client.post(url, {"email": "d@example.com", "quantity": 1}, REMOTE_ADDR="198.51.100.7")
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) >= 1
    assert "Too many tries" in limited.content.decode()


def test_storefront_ignores_a_spoofed_forwarded_for(client, settings):
    settings.HOLD_CLIENT_SHARE_PERCENT, settings.TRUSTED_PROXIES = 10, ["127.0.0.1/32"]
    drop = make_drop(quantity=20, per_customer_limit=2)
    url = f"/drops/{drop.pk}/checkout/"
    client.post(url, {"email": "a@example.com", "quantity": 2}, REMOTE_ADDR="198.51.100.7")
    spoofed = client.post(
        url, {"email": "b@example.com", "quantity": 1}, REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="1.2.3.4"
    )
    assert spoofed.status_code == 409
    via_proxy = client.post(
        url, {"email": "c@example.com", "quantity": 1}, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4"
    )
    assert via_proxy.status_code == 302
    assert Hold.objects.get(customer__email="c@example.com").client_key == "ip:1.2.3.4"


@pytest.fixture
def api_auth():
    raw = api_key_create(partner=Partner.objects.create(name="Affiliate"), name="w", scopes=["holds:write"])[1]
    return {"X-API-Key": raw}


def api_hold(client, headers, drop, email, quantity=1):
    return client.post(
        "/api/v1/holds",
        data={"drop_id": drop.pk, "email": email, "quantity": quantity},
        content_type="application/json",
        headers=headers,
    )


def test_api_rate_limit_per_key_is_429_with_retry_after(client, settings, api_auth):
    settings.HOLD_RATE_LIMIT_API_KEY = 2
    drop = make_drop(quantity=20)
    assert [api_hold(client, api_auth, drop, f"k{i}@example.com").status_code for i in range(2)] == [201, 201]
    replay_key = {**api_auth, "Idempotency-Key": "k-3"}
    response = api_hold(client, replay_key, drop, "k3@example.com")
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 3600
    settings.HOLD_RATE_LIMIT_API_KEY = 100  # the window passed: the same Idempotency-Key now goes through
    assert api_hold(client, replay_key, drop, "k3@example.com").status_code == 201


def test_api_caps_the_forwarded_end_customer(client, settings, api_auth, no_rate_limits):
    settings.HOLD_CLIENT_SHARE_PERCENT = 10
    drop = make_drop(quantity=20, per_customer_limit=2)  # cap 2
    end = {**api_auth, "X-End-Client-IP": "198.51.100.7"}
    assert api_hold(client, end, drop, "a@example.com", 2).status_code == 201
    refused = api_hold(client, end, drop, "b@example.com")
    assert (refused.status_code, refused.json()["code"]) == (409, "client_limit")
    assert api_hold(client, api_auth, drop, "c@example.com").status_code == 201  # no end client: key limits only


def test_a_partner_forwarding_a_visitors_address_cannot_spend_that_visitors_limits(client, settings, api_auth):
    """QA: a key forwarding X-End-Client-IP: <venue Wi-Fi> used up that address's storefront rate limit
    and cap, locking real buyers out. Partner-asserted identities live in the partner's own namespace."""
    settings.HOLD_CLIENT_SHARE_PERCENT, settings.HOLD_RATE_LIMIT_CLIENT_DROP = 10, 3
    drop = make_drop(quantity=20, per_customer_limit=2)  # cap 2
    forged = {**api_auth, "X-End-Client-IP": "198.51.100.7"}
    answers = [api_hold(client, forged, drop, f"grief{i}@example.com").status_code for i in range(6)]
    assert 201 in answers and answers[-1] in (409, 429)  # the partner's end client is capped and limited
    # the storefront visitor behind that address still gets its whole share
    url = f"/drops/{drop.pk}/checkout/"
    assert client.post(url, {"email": "real@example.com", "quantity": 2}, REMOTE_ADDR="198.51.100.7").status_code == 302
    partner_id = Partner.objects.get().pk
    assert set(Hold.objects.exclude(customer__email="real@example.com").values_list("client_key", flat=True)) == {
        f"p{partner_id}:ip:198.51.100.7"
    }
