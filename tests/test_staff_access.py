"""Generated from the registries: every admin action, custom admin URL and staff page declares a permission,
and a staff user without it is refused with nothing changed.

Walks `admin.site._registry` (each ModelAdmin's actions for a superuser, and its URLs beyond the standard
changelist/add/change/delete/history), `admin.site.get_urls()`, and the project's other URLs (a page that
sends an anonymous visitor to the admin login is a staff page). A new action, admin URL or staff page
without a declared permission makes these tests fail; so does one that lets an unauthorised user change
a row (every table's row count and content hash is compared before and after).
"""

from __future__ import annotations

import hashlib
import re

import pytest
from django.apps import apps
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver

from commerce.staff_access import SuperuserOnlyAdminMixin
from tests.factories import make_staff

pytestmark = pytest.mark.django_db

STANDARD_MODEL_URLS = {"changelist", "add", "history", "delete", "change"}
STANDARD_SITE_URLS = {
    "index",
    "login",
    "logout",
    "password_change",
    "password_change_done",
    "autocomplete",
    "jsi18n",
    "view_on_site",
    "app_list",
}
# Library views whose own permission check is proven behaviourally below (they cannot carry our marker).
CHECKED_BY_LIBRARY = {"auth_user_password_change"}
# Tables a refused request may touch without changing anything that matters.
NOT_SNAPSHOTTED = {"sessions.session"}
BUILTIN = {"add", "change", "delete", "view"}

MODEL_ADMINS = sorted(admin.site._registry.items(), key=lambda kv: kv[0]._meta.label)
SHOP_ADMINS = [(m, ma) for m, ma in MODEL_ADMINS if not isinstance(ma, SuperuserOnlyAdminMixin)]
LOCKED_ADMINS = [(m, ma) for m, ma in MODEL_ADMINS if isinstance(ma, SuperuserOnlyAdminMixin)]


# --- helpers ------------------------------------------------------------------------------------------


def snapshot() -> dict[str, tuple[int, str]]:
    """Every concrete table's row count and a hash of its rows."""
    out = {}
    for model in apps.get_models():
        opts = model._meta
        if opts.proxy or not opts.managed or opts.label_lower in NOT_SNAPSHOTTED:
            continue
        rows = list(model._base_manager.order_by("pk").values_list())
        out[opts.label_lower] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
    return out


def changed_tables(before: dict, after: dict) -> list[str]:
    return sorted(k for k in before if before[k] != after.get(k))


def superuser_request():
    request = RequestFactory().get("/admin/")
    request.user = get_user_model()(username="walker", is_staff=True, is_superuser=True, is_active=True)
    return request


def request_as(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def declared_perms(model_admin, name: str) -> tuple[str, ...]:
    """The "app.codename" permissions behind `has_<name>_permission` of `model_admin`."""
    if name in BUILTIN:
        opts = model_admin.opts
        return (f"{opts.app_label}.{name}_{opts.model_name}",)
    method = getattr(model_admin, f"has_{name}_permission")
    perms = getattr(method, "staff_permissions", None)
    assert perms, f"{type(model_admin).__name__}.has_{name}_permission must be built with perm_check(...)"
    return tuple(perms)


def view_only_user(model, username="viewonly"):
    opts = model._meta
    return make_staff(username, perms=(f"{opts.app_label}.view_{opts.model_name}",))


def success_messages(response) -> list[str]:
    return [str(m) for m in messages.get_messages(response.wsgi_request) if m.level == messages.SUCCESS]


def actions_of(model_admin) -> dict:
    return model_admin.get_actions(superuser_request())


def custom_admin_urls():
    """(name, route, callback, model) for every admin URL beyond the standard ones."""
    found = []
    for pattern in admin.site.get_urls():
        if isinstance(pattern, URLPattern) and pattern.name and pattern.name not in STANDARD_SITE_URLS:
            found.append((pattern.name, str(pattern.pattern), pattern.callback, None))
    for model, model_admin in MODEL_ADMINS:
        opts = model._meta
        standard = {f"{opts.app_label}_{opts.model_name}_{suffix}" for suffix in STANDARD_MODEL_URLS}
        for pattern in model_admin.get_urls():
            if pattern.name is None or pattern.name in standard:
                continue
            route = f"{opts.app_label}/{opts.model_name}/{pattern.pattern}"
            found.append((pattern.name, route, pattern.callback, model))
    return found


CUSTOM_ADMIN_URLS = custom_admin_urls()


def fill(route: str, world: dict, model) -> str:
    """A concrete path for `route`, its parameters taken from the world (a new parameter needs a value here)."""

    def value(match):
        name = match.group(2)
        if name == "model_name":
            return model._meta.model_name
        if name == "action_name":
            return "_sync_all_instances"
        assert name in world, f"give the generated test a value for the URL parameter {name!r} (route {route})"
        return str(world[name])

    route = route.lstrip("^").rstrip("$")
    return "/admin/" + re.sub(r"<(?:(\w+):)?(\w+)>", value, route)


@pytest.fixture
def world(db, django_capture_on_commit_callbacks):
    """At least one row behind every admin page: orders in each state, a refund, keys, pickup, samples, analytics."""
    import datetime as dt

    from analytics.models import Experiment, SessionCost
    from commerce.models import CreditNote, Partner, PickupBooking
    from commerce.services import api_keys, coupons
    from commerce.services.holds import hold_place
    from commerce.services.orders import checkout_start, order_mark_paid, order_place
    from commerce.services.refunds import refund_create, refund_submit
    from tests.factories import make_campaign, make_drop, make_pickup_drop, make_slot
    from tests.sampling.helpers import approved_request, make_series

    drop = make_drop(quantity=20, per_customer_limit=5, price_minor=1000)
    awaiting = [order_place(drop_id=drop.pk, email=f"buyer{i}@example.com", quantity=1) for i in range(2)]
    paid = order_place(drop_id=drop.pk, email="paid@example.com", quantity=2)
    order_mark_paid(order_id=paid.pk)
    with django_capture_on_commit_callbacks(execute=False):
        refund = refund_create(order_id=paid.pk, amount_minor=100)
    refund_submit(refund_id=refund.pk)  # succeeded (manual provider): the order has a receipt and a credit note
    partner = Partner.objects.create(name="3PL")
    api_keys.api_key_create(partner=partner, name="nightly", scopes=["orders:read"])
    coupons.coupon_create(
        code="WELCOME10",
        kind="percent",
        percent_off=10,
        valid_from=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        valid_until=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
    )
    pickup_drop = make_pickup_drop(quantity=5, per_customer_limit=2)
    slot = make_slot(pickup_drop.popup)
    hold = hold_place(drop_id=pickup_drop.pk, email="pick@example.com", quantity=1, pickup_slot_id=slot.pk)
    booking = PickupBooking.objects.get(order=checkout_start(hold_token=hold.token))
    series = make_series()
    campaign = make_campaign(series=series)
    approved_request(campaign, email="ann@example.com")
    experiment = Experiment.objects.create(name="AMA vs demo", format_a=drop.session.format, format_b=drop.session.format)
    SessionCost.objects.create(session_id=drop.session_id, sample_cost_minor=100, asset_cost_minor=50, currency="USD")
    # session assets (issue #12): a processed recording, a clip of it selling the drop, a failed cut job
    from sessions_app.assets.models import AssetJob, Clip, Recording

    recording = Recording.objects.create(
        session_id=drop.session_id, original_name="show.mp4", state=Recording.State.READY, duration_ms=5000
    )
    clip = Clip.objects.create(
        session_id=drop.session_id, recording=recording, drop=drop, title="Ring", start_ms=0, end_ms=2000
    )
    AssetJob.objects.create(kind=AssetJob.Kind.CUT_CLIP, clip=clip, state=AssetJob.State.FAILED, error="probe")
    superuser = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-123")
    return {
        "drop": drop,
        "awaiting": awaiting,
        "paid": paid,
        "booking": booking,
        "popup_id": pickup_drop.popup_id,
        "session_id": drop.session_id,
        "series_id": series.pk,
        "format_id": drop.session.format_id,
        "experiment_id": experiment.pk,
        "recording_id": recording.pk,
        "object_id": paid.pk,
        "credit_note_id": CreditNote.objects.get(refund_id=refund.pk).pk,
        "id": superuser.pk,
        "superuser": superuser,
    }


# --- admin actions ------------------------------------------------------------------------------------


def test_the_walk_finds_the_registries():
    """Sanity: the walk sees the shop's actions, custom admin URLs and the locked-down dj-stripe admin."""
    names = {(m._meta.label_lower, a) for m, ma in SHOP_ADMINS for a in actions_of(ma)}
    assert {("commerce.order", "refund_full"), ("commerce.apikey", "revoke"), ("sessions_app.livesession", "cancel")} <= names
    urls = {name for name, *_ in CUSTOM_ADMIN_URLS}
    assert {"analytics_dashboards", "commerce_popup_generate", "sampling_samplerequest_import_tracking"} <= urls
    assert any(m._meta.app_label == "djstripe" for m, _ in LOCKED_ADMINS)


@pytest.mark.parametrize(("model", "model_admin"), SHOP_ADMINS, ids=[m._meta.label_lower for m, _ in SHOP_ADMINS])
def test_every_action_declares_a_permission_and_refuses_staff_without_it(client, world, model, model_admin):
    actions = actions_of(model_admin)
    if not actions:
        pytest.skip(f"{model._meta.label} has no actions")
    pks = [str(pk) for pk in model_admin.get_queryset(superuser_request()).values_list("pk", flat=True)]
    changelist = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
    nobody = make_staff("nobody")
    viewer = view_only_user(model)
    for name, (func, _name, _desc) in actions.items():
        allowed = getattr(func, "allowed_permissions", None)
        assert allowed, f"{model._meta.label}: action {name!r} declares no permission (@admin.action(permissions=[...]))"
        needed = {p for perm in allowed for p in declared_perms(model_admin, perm)}

        # a staff user with exactly the declared permissions (and view) is offered the action
        entitled = make_staff(f"entitled-{name}"[:150], perms=(*needed, *declared_perms(model_admin, "view")))
        assert name in model_admin.get_actions(request_as(entitled)), f"{name}: the declared permissions do not suffice"

        for user in (nobody, viewer):
            if needed <= {p for p in user.get_all_permissions()}:
                continue  # a read-only action this user may run
            assert name not in model_admin.get_actions(request_as(user))
            client.force_login(user)
            before = snapshot()
            response = client.post(
                changelist,
                {"action": name, "_selected_action": pks, "index": 0, "apply": "1", "reason": "probe"},
            )
            # 403 without view permission; the plain changelist (200) or "No action selected" (302) with it
            assert response.status_code in (200, 302, 403), f"{name} as {user}: {response.status_code}"
            assert not success_messages(response), f"{name} as {user} claimed success"
            assert "text/csv" not in response.get("Content-Type", ""), f"{name} as {user} exported data"
            assert changed_tables(before, snapshot()) == [], f"{name} as {user} changed data"


# --- custom admin URLs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "route", "callback", "model"), CUSTOM_ADMIN_URLS, ids=[f"{n}:{r}" for n, r, _c, _m in CUSTOM_ADMIN_URLS]
)
def test_every_custom_admin_url_declares_a_permission_and_refuses_staff_without_it(
    client, request, name, route, callback, model
):
    perms = getattr(callback, "staff_permissions", None)
    assert perms or name in CHECKED_BY_LIBRARY, f"admin URL {name!r} ({route}) declares no permission"
    # the world's rows are built only for routes that need an object (it is the slow part)
    params = set(re.findall(r"<(?:\w+:)?(\w+)>", route)) - {"model_name", "action_name"}
    world = request.getfixturevalue("world") if params or model is None or perms != ("superuser",) else {}
    path = fill(route, world, model)
    users = [make_staff("nobody")]
    if model is not None:
        users.append(view_only_user(model))
    for user in users:
        if perms and "superuser" not in perms and set(perms) <= user.get_all_permissions():
            continue  # a read-only page this user may see
        client.force_login(user)
        before = snapshot()
        for response in (
            client.get(path),
            client.get(path, {"csv": "sessions"}),
            client.post(path, {"action": "_sync_all_instances", "_selected_action": "1"}),
        ):
            assert response.status_code == 403, f"{path} as {user}: {response.status_code}"
        assert changed_tables(before, snapshot()) == [], f"{path} as {user} changed data"
    if perms and "superuser" not in perms:
        # the declared permissions are enough to open it
        client.force_login(make_staff("entitled", perms=tuple(perms)))
        assert client.get(path).status_code == 200


# --- staff pages outside the admin --------------------------------------------------------------------


def _site_patterns(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if route.startswith(("admin/", "api/", "stripe/", "bench/")):
                continue
            yield from _site_patterns(pattern, route)
        elif not route.startswith("admin/"):  # the admin's own shortcut has its test below
            yield route, pattern.callback


def _staff_pages(client, world):
    found = []
    for route, callback in _site_patterns():
        path = "/" + re.sub(
            r"<(?:(\w+):)?(\w+)>", lambda m: str(world.get(m.group(2), 1)) if m.group(1) in ("int", "id") else "x", route
        )
        response = client.get(path)
        if response.status_code == 302 and response["Location"].startswith("/admin/login/"):
            found.append((path, callback))
    return found


def test_every_staff_page_declares_a_permission_and_refuses_staff_without_it(client, world):
    pages = _staff_pages(client, world)
    assert {p for p, _ in pages} >= {"/pickup/staff/", "/pickup/staff/checkin/", f"/pickup/staff/popups/{world['popup_id']}/no-shows/"}
    nobody = make_staff("nobody")
    viewer = make_staff("viewer", perms=("commerce.view_pickupbooking", "commerce.view_order", "commerce.view_popup"))
    booking = world["booking"]
    for path, callback in pages:
        perms = getattr(callback, "staff_permissions", None)
        assert perms, f"staff page {path} declares no permission (use commerce.staff_access.staff_page)"
        for user in (nobody, viewer):
            client.force_login(user)
            before = snapshot()
            # the door probe of issue #10: mark paid by order number without the door permission
            assert client.get(path).status_code == 403
            post = client.post(path, {"code": booking.order.number, "payment_collected": "1", "slot_id": "1", "message": "x"})
            assert post.status_code == 403, f"{path} as {user}: {post.status_code}"
            assert changed_tables(before, snapshot()) == []
        client.force_login(make_staff(f"entitled{len(path)}", perms=perms))
        assert client.get(path).status_code == 200


# --- dj-stripe and the task queue: superusers only -------------------------------------------------------


def test_locked_admins_are_hidden_and_refused_for_staff_with_every_permission(client, world):
    everything = make_staff("allperms")
    everything.user_permissions.set(Permission.objects.all())
    everything = get_user_model().objects.get(pk=everything.pk)
    client.force_login(everything)
    index = client.get("/admin/").content.decode()
    assert "/admin/djstripe/" not in index and "/admin/django_q/" not in index
    before = snapshot()
    for model, model_admin in LOCKED_ADMINS:
        assert model_admin.get_actions(request_as(everything)) == {}
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        assert client.get(base).status_code == 403, base
        assert client.get(base + "add/").status_code == 403, base
        for action in actions_of(model_admin):
            assert client.post(base, {"action": action, "_selected_action": ["1"], "index": 0}).status_code == 403
            assert client.post(f"{base}action/{action}/{model._meta.model_name}/", {}).status_code in (403, 404)
    assert changed_tables(before, snapshot()) == []


def test_locked_admin_pages_do_not_fail_for_a_superuser(world):
    from django.test import Client

    client = Client(raise_request_exception=False)
    client.force_login(world["superuser"])
    failures = []
    for model, model_admin in LOCKED_ADMINS:
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        paths = [base]
        if model_admin.has_add_permission(superuser_request()):
            paths.append(base + "add/")
        if "_sync_all_instances" in actions_of(model_admin):
            paths.append(f"{base}action/_sync_all_instances/{model._meta.model_name}/")
        paths.append(f"{base}action/no_such_action/{model._meta.model_name}/")
        for path in paths:
            for response in (client.get(path), client.post(path, {"_selected_action": "_sync_all_instances"})):
                if response.status_code >= 500:
                    failures.append((path, response.request["REQUEST_METHOD"], response.status_code))
    assert failures == []


# --- the admin's "View on site" shortcut -------------------------------------------------------------------


def test_view_on_site_never_hands_staff_a_buyers_private_link(client, world):
    """QA probe: /admin/r/<ct>/<id>/ redirected any staff account to orders', passes' and requests' private links."""
    from django.contrib.contenttypes.models import ContentType

    from commerce.models import Order
    from sessions_app.models import LiveSession

    order = world["booking"].order
    session = LiveSession.objects.first()
    order_url = f"/admin/r/{ContentType.objects.get_for_model(Order).pk}/{order.pk}/"
    session_url = f"/admin/r/{ContentType.objects.get_for_model(LiveSession).pk}/{session.pk}/"
    for perms in ((), ("commerce.view_order",), ("commerce.view_order", "commerce.change_order")):
        client.force_login(make_staff(f"s{len(perms)}", perms=perms))
        response = client.get(order_url)
        assert response.status_code == 404  # like a missing object, whatever the staff member may do
        assert order.token not in response.get("Location", "")
    client.force_login(make_staff("nosession"))
    assert client.get(session_url).status_code == 403
    client.force_login(make_staff("sessions", perms=("sessions_app.view_livesession",)))
    response = client.get(session_url)
    assert response.status_code == 302 and str(session.public_id) in response["Location"]  # public pages still work
