"""Staff roles as Django groups, each with the least permissions it needs (docs/staff-roles.md).

`ROLES` is the single definition. `roles_sync(apps)` makes the groups match it exactly: it creates
the content types and permissions it needs itself (so it works inside a migration on a fresh
SQLite or PostgreSQL database, before `post_migrate` has created any permission), then sets each
group's permissions to the role's list. Running it again changes nothing; permissions an operator
added by hand to one of these groups are removed (make another group for extra rights).

Staff accounts (auth users and groups) and dj-stripe's admin are for superusers only.
"""

from __future__ import annotations

SHOP_APPS = ("commerce", "sampling", "analytics", "sessions_app")

# Money and history records: never deleted, not even by the owner (cancel or refund instead).
NEVER_DELETED = {
    "commerce.delete_order",
    "commerce.delete_orderline",
    "commerce.delete_refund",
    "commerce.delete_paymentevent",
    "commerce.delete_couponredemption",
    "commerce.delete_hold",
    "commerce.delete_idempotencyrecord",
    "sampling.delete_samplerequest",
    "sampling.delete_reviewqueueitem",
    "sampling.delete_samplerequestevent",
    "analytics.delete_event",
    # the asset cost ledger and delivery counts are history the session costs are computed from
    "sessions_app.delete_assetcostday",
    "sessions_app.delete_assetdelivery",
    # share-to-unlock history: who shared, who was counted, what unlocked (docs/share-to-unlock.md)
    "commerce.delete_sharelink",
    "commerce.delete_sharevisit",
    "commerce.delete_shareunlock",
}


def _view(*models: str) -> list[str]:
    return [f"{m.split('.')[0]}.view_{m.split('.')[1]}" for m in models]


def _crud(*models: str, delete: bool = False) -> list[str]:
    out = []
    for m in models:
        app, name = m.split(".")
        out += [f"{app}.view_{name}", f"{app}.add_{name}", f"{app}.change_{name}"]
        if delete:
            out.append(f"{app}.delete_{name}")
    return out


AUDIT_LOG_VIEW = "auditlog.view_logentry"

ROLES: dict[str, list[str]] = {
    # Runs the live show: plans series and sessions, goes live / ends, sets up drops and coupons.
    "host": [
        *_crud("sessions_app.series", "sessions_app.livesession", "commerce.drop", "commerce.coupon"),
        "sessions_app.golive_livesession",
        "sessions_app.cancel_livesession",
        "sessions_app.control_livesession",  # the live control room (docs/control-room.md)
        *_view("sessions_app.seriesfollower", "sessions_app.reminderbatch"),  # followers, reminders (docs/cadence.md)
        # waitlists (remove from the line) and what they offered; carried-over stock (docs/waitlist.md)
        "commerce.view_waitlistentry",
        "commerce.change_waitlistentry",
        "commerce.view_waitlistoffer",
        "commerce.view_stocktransfer",
        # session assets: upload recordings, cut and delete clips, watch the jobs (docs/video.md)
        *_crud("sessions_app.recording", "sessions_app.clip", delete=True),
        "sessions_app.cut_clip",
        *_crud("commerce.bundle"),  # community bundles: a drop + seats in a private micro-session (docs/bundles.md)
        "commerce.view_bundleseat",
        "sessions_app.change_assetobject",  # "Request restore" of an archived clip or recording (docs/assets.md)
        *_view(
            "sessions_app.assetjob",
            "sessions_app.sessionmoment",
            "sessions_app.assetobject",
            "sessions_app.sessionformat",
            "commerce.product",
            "commerce.productimage",
            "commerce.sku",
            "commerce.order",
            "commerce.popup",
            "commerce.pickupslot",
            "sampling.samplecampaign",
            "commerce.watchcode",  # personal codes of watch-gated coupons (docs/watch-coupons.md)
        ),
        # share-to-unlock campaigns; their links and unlocks are read-only history (docs/share-to-unlock.md)
        *_crud("commerce.sharecampaign"),
        *_view("commerce.sharelink", "commerce.shareunlock"),
    ],
    # The pickup door and shipping: check-in (incl. pay-at-pickup), no-show messages, slots,
    # fulfilment of order units, 3PL export and tracking import.
    "fulfilment": [
        "commerce.checkin_pickupbooking",
        "commerce.message_noshows_pickupbooking",
        "commerce.fulfil_order",
        "commerce.export_order",  # the order CSV (lines, shipping addresses) for shipping
        "commerce.view_trialreturn",  # returned trials arriving at the warehouse (support refunds them)
        "commerce.change_pickupslot",
        "sampling.ship_samplerequest",
        "sampling.export_samplerequest",
        *_view(
            "commerce.order",
            "commerce.popup",
            "commerce.pickupslot",
            "commerce.pickupbooking",
            "commerce.product",
            "commerce.productimage",
            "commerce.sku",
            "sampling.samplecampaign",
            "sampling.samplerequest",
        ),
    ],
    # Reads the numbers: dashboards and their CSV exports, experiments and session costs.
    "analyst": [
        "analytics.view_dashboards",
        "analytics.export_dashboards",
        "commerce.view_membershipplan",  # memberships (docs/memberships.md): churn and member LTV context
        "commerce.view_membership",
        *_crud("analytics.experiment", "analytics.sessioncost"),
        *_view(
            "analytics.sessionkpis",
            "analytics.event",
            "analytics.customerstats",
            "commerce.order",
            "commerce.drop",
            "commerce.coupon",
            "commerce.watchcode",
            "commerce.sharecampaign",  # share-to-unlock (docs/share-to-unlock.md)
            "commerce.sharelink",
            "commerce.shareunlock",
            "commerce.product",
            "commerce.productimage",
            "commerce.sku",
            "sessions_app.livesession",
            "sessions_app.series",
            "sessions_app.sessionformat",
            "sampling.samplecampaign",
            # every session asset model, including the cost ledger and delivery counts
            "sessions_app.assetobject",
            "sessions_app.recording",
            "sessions_app.clip",
            "sessions_app.sessionmoment",
            "sessions_app.assetjob",
            "sessions_app.recordingupload",
            "sessions_app.assetdelivery",
            "sessions_app.assetcostday",
        ),
    ],
    # Customer service: cancel unpaid orders, refund, record a payment, review and cancel sample
    # requests, personal goodwill coupons.
    "support": [
        "commerce.cancel_order",
        "commerce.refund_order",
        "commerce.mark_paid_order",
        "commerce.add_refund",
        "commerce.change_customer",
        "commerce.add_coupon",
        "commerce.change_coupon",
        "sampling.review_samplerequest",
        "sampling.cancel_samplerequest",
        *_view(
            "commerce.order",
            "commerce.refund",
            "commerce.customer",
            "commerce.coupon",
            "commerce.couponredemption",
            "commerce.watchcode",
            "commerce.shareunlock",  # a sharer asking about their unlocked code (docs/share-to-unlock.md)
            "commerce.hold",
            "commerce.paymentevent",
            "commerce.pickupbooking",
            "commerce.drop",
            "commerce.sku",
            "commerce.product",
            "commerce.productimage",
            "sampling.samplecampaign",
            "sampling.samplerequest",
            "sampling.reviewqueueitem",
            "commerce.outboxmessage",
        ),
        "commerce.retry_outboxmessage",  # a failed e-mail or refund submission, sent again after a fix
        "commerce.receive_trialreturn",  # "Mark received and refund" a returned trial (docs/trials.md)
        *_view("commerce.trialreturn", "commerce.bundle", "commerce.bundleseat"),
        "commerce.download_receipt",  # re-send a buyer their receipt or credit note
        *_view("commerce.receipt", "commerce.creditnote"),
        "sessions_app.view_clip",  # find the clip a buyer asks about
        # memberships (docs/memberships.md): a member asking about their plan; end or cancel at period end
        *_view("commerce.membershipplan", "commerce.membership", "commerce.membershipevent"),
        "commerce.manage_membership",
        # a viewer asking about reminders: their follow and its batches (retry failed sends: retry_outboxmessage)
        *_view("sessions_app.seriesfollower", "sessions_app.reminderbatch"),
    ],
    # Everything in the shop's apps (except deleting money records) plus the audit log.
    "owner": ["*", AUDIT_LOG_VIEW],
}


def _catalog(apps) -> dict[str, tuple[str, str, str]]:
    """Every permission the shop's models define: "app.codename" → (app_label, model_name, name)."""
    out = {}
    for label in (*SHOP_APPS, "auditlog"):
        for model in apps.get_app_config(label).get_models():
            opts = model._meta
            for action in opts.default_permissions:
                out[f"{label}.{action}_{opts.model_name}"] = (
                    label,
                    opts.model_name,
                    f"Can {action} {opts.verbose_name_raw}",
                )
            for codename, name in opts.permissions:
                out[f"{label}.{codename}"] = (label, opts.model_name, str(name))
    return out


def role_permissions(role: str, catalog: dict, *, strict: bool = True) -> list[str]:
    """The role's permissions as "app.codename", with "*" expanded to every shop permission.

    strict: a permission not in `catalog` is a LookupError (a typo in ROLES). A migration's
    historical registry lacks the models that later migrations add; there (strict=False) they are
    left out, and the post_migrate sync grants them once every migration has run.
    """
    perms = []
    for perm in ROLES[role]:
        if perm == "*":
            perms += [p for p in catalog if p.split(".")[0] in SHOP_APPS and p not in NEVER_DELETED]
        else:
            perms.append(perm)
    unknown = sorted(set(perms) - set(catalog))
    if unknown and not strict:
        perms = [p for p in perms if p in catalog]
    elif unknown:
        raise LookupError(f"Role {role!r} names unknown permissions: {unknown}")
    return sorted(set(perms))


def roles_sync(apps=None) -> dict[str, int]:
    """Create or update the role groups so each has exactly its permissions; returns role → count.

    `apps` is a migration's historical registry (default: the live one). Safe to run any number of times.
    """
    strict = apps is None
    if apps is None:
        from django.apps import apps as live_apps

        apps = live_apps
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    catalog = _catalog(apps)
    content_types: dict[tuple[str, str], object] = {}
    permissions: dict[str, object] = {}

    def permission(key: str):
        if key not in permissions:
            app_label, model_name, name = catalog[key]
            ct = content_types.get((app_label, model_name))
            if ct is None:
                ct, _ = ContentType.objects.get_or_create(app_label=app_label, model=model_name)
                content_types[(app_label, model_name)] = ct
            permissions[key], _ = Permission.objects.get_or_create(
                content_type=ct, codename=key.split(".", 1)[1], defaults={"name": name[:255]}
            )
        return permissions[key]

    counts = {}
    for role in ROLES:
        perms = [permission(key) for key in role_permissions(role, catalog, strict=strict)]
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(perms)
        counts[role] = len(perms)
    return counts


def roles_sync_after_migrate(sender, **kwargs) -> None:
    """post_migrate receiver (commerce's): re-sync the groups, so a permission that a later migration
    adds (a new model, a new action) reaches the roles without a hand-written data migration."""
    roles_sync()
