"""Production's static files: every `{% static %}` reference exists in whitenoise's manifest.

Production serves `collectstatic` output through whitenoise's CompressedManifestStaticFilesStorage,
where `{% static 'x' %}` of a file that is not there raises ValueError: a 500 on the page. The rest of
the suite uses plain StaticFilesStorage (no manifest), so nothing else catches a typo or a deleted
file. Here `collectstatic` runs once into a temporary STATIC_ROOT with the production storage, then:

1. every literal `{% static '…' %}` in our templates and every `static("…")` in our Python code is
   looked up in the manifest;
2. every template of ours is rendered (a permissive context, and a request): a missing manifest
   entry fails, other rendering problems of an empty context are tolerated but counted;
3. the pages themselves are fetched with the test client from a populated shop (viewer pages,
   staff pages, and every admin changelist, add and change page), so templates reached through
   views, admin Media and inclusion tags are covered too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.management import call_command
from django.template import TemplateDoesNotExist, engines
from django.test import RequestFactory, override_settings
from django.urls import reverse

from tests.test_staff_access import world  # noqa: F401  (the populated shop: a fixture reused as is)

BASE = Path(settings.BASE_DIR)
OUR_APPS = ("commerce", "sampling", "analytics", "sessions_app", "config")
MANIFEST_STORAGE = "whitenoise.storage.CompressedManifestStaticFilesStorage"
STATIC_TAG = re.compile(r"""\{%\s*static\s+(['"])(?P<path>[^'"]+)\1""")
STATIC_CALL = re.compile(r"""\bstatic\(\s*(['"])(?P<path>[^'"]+)\1\s*\)""")


def template_roots() -> list[Path]:
    roots = [Path(d) for d in settings.TEMPLATES[0]["DIRS"]]
    roots += [Path(apps.get_app_config(label).path) / "templates" for label in OUR_APPS if label != "config"]
    return [r for r in roots if r.is_dir()]


def our_templates() -> list[tuple[Path, str]]:
    """(file, template name) of every template we ship (html, txt), static/ excluded."""
    found = []
    for root in template_roots():
        for path in sorted(root.rglob("*")):
            if path.suffix in {".html", ".txt"} and path.is_file() and "static" not in path.relative_to(root).parts:
                found.append((path, str(path.relative_to(root))))
    return found


def static_references() -> list[tuple[str, str]]:
    """(where, static path) for every literal reference in our templates and Python code."""
    refs = []
    for path, name in our_templates():
        refs += [(name, m.group("path")) for m in STATIC_TAG.finditer(path.read_text(encoding="utf-8"))]
    for label in OUR_APPS:
        root = BASE / label
        for path in sorted(root.rglob("*.py")):
            if "migrations" in path.parts:
                continue
            text = path.read_text(encoding="utf-8")
            refs += [(str(path.relative_to(BASE)), m.group("path")) for m in STATIC_CALL.finditer(text)]
    return refs


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    """collectstatic into a temporary STATIC_ROOT with production's storage; active for the module's tests."""
    root = tmp_path_factory.mktemp("staticfiles")
    storages = {**settings.STORAGES, "staticfiles": {"BACKEND": MANIFEST_STORAGE}}
    with override_settings(STATIC_ROOT=root, STORAGES=storages):
        call_command("collectstatic", interactive=False, verbosity=0)
        assert (root / "staticfiles.json").is_file()
        yield root


def test_the_manifest_is_strict(manifest):
    # sanity: with the production storage a missing file is an error, which is what the tests rely on
    assert staticfiles_storage.url("css/shop.css") != "/static/css/shop.css"  # hashed name
    with pytest.raises(ValueError, match="Missing staticfiles manifest entry"):
        staticfiles_storage.url("css/no-such-file.css")


def test_every_static_literal_is_in_the_manifest(manifest):
    refs = static_references()
    assert len({p for _w, p in refs}) >= 10, "the scan found almost nothing: is the pattern still right?"
    missing = []
    for where, path in refs:
        try:
            hashed = staticfiles_storage.stored_name(path)
        except ValueError:
            missing.append(f"{where}: {{% static '{path}' %}}")
            continue
        assert (manifest / hashed).is_file()
    assert missing == [], "static files referenced but not shipped:\n" + "\n".join(missing)


def test_every_template_renders_with_the_manifest(manifest, rf: RequestFactory):
    request = rf.get("/")
    request.user = None
    request.csp_nonce = "nonce"
    engine = engines["django"]
    rendered, tolerated = 0, []
    for _path, name in our_templates():
        try:
            template = engine.get_template(name)
        except TemplateDoesNotExist:  # shadowed by another directory: rendered under its own name
            continue
        try:
            template.render({}, request)
            rendered += 1
        except Exception as exc:  # an empty context breaks some templates: they are covered by the page walk
            if "staticfiles manifest" in str(exc):
                pytest.fail(f"{name}: {exc}")
            tolerated.append(f"{name}: {type(exc).__name__}")
    assert rendered >= len(our_templates()) // 2, f"only {rendered} rendered; tolerated: {tolerated}"


def viewer_and_staff_pages(world) -> list[str]:  # noqa: F811 (world: the imported fixture's value)
    drop, paid, booking = world["drop"], world["paid"], world["booking"]
    from sampling.models import SampleCampaign, SampleRequest

    pages = [
        "/",
        drop.session.get_absolute_url(),
        reverse("commerce:checkout", kwargs={"drop_id": drop.pk}),
        paid.get_absolute_url(),
        reverse("commerce:pickup_pass", kwargs={"token": booking.order.token}),
        reverse("commerce:pickup_staff"),
        reverse("commerce:pickup_checkin"),
        reverse("commerce:pickup_no_shows", kwargs={"popup_id": world["popup_id"]}),
        SampleCampaign.objects.first().get_absolute_url(),
        SampleRequest.objects.first().get_absolute_url(),
        reverse("admin:index"),
        reverse("admin:analytics_dashboards"),
    ]
    for model, _model_admin in sorted(admin.site._registry.items(), key=lambda kv: kv[0]._meta.label):
        opts = model._meta
        pages.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        if opts.app_label in OUR_APPS:
            pages.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
            first = model._default_manager.order_by("pk").first()
            if first is not None:
                pages.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[first.pk]))
    return pages


@pytest.mark.django_db
def test_every_page_renders_with_the_manifest(manifest, client, world):  # noqa: F811
    # given a populated shop and a superuser (who sees every admin page)
    client.force_login(world["superuser"])
    # when every page is fetched with production's static storage
    statuses = {}
    for url in viewer_and_staff_pages(world):
        response = client.get(url)  # a missing manifest entry raises here (the test client re-raises)
        statuses[url] = response.status_code
    # then none is a server error, and the walk saw the pages it should have
    assert [u for u, s in statuses.items() if s >= 500] == []
    assert sum(1 for s in statuses.values() if s == 200) >= 40, statuses
