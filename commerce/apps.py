from django.apps import AppConfig


class CommerceConfig(AppConfig):
    name = "commerce"
    verbose_name = "Commerce"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from djstripe import signals

        import config.bounds  # noqa: F401  (registers the `<id:…>` URL converter before any pattern is built)

        from .payments.stripe_webhooks import on_webhook_pre_process

        signals.webhook_pre_process.connect(on_webhook_pre_process, dispatch_uid="commerce.stripe_webhooks")

        from django.db.models.signals import post_delete, post_save

        from .models import ApiKey, Drop, Partner
        from .selectors import drop_terms
        from .services.api_keys import recent_keys

        # per-process memories of hot reads (commerce.memo): a save here forgets them at once
        post_save.connect(drop_terms.forget, sender=Drop, dispatch_uid="commerce.drop_terms")
        post_delete.connect(drop_terms.forget, sender=Drop, dispatch_uid="commerce.drop_terms_deleted")
        post_save.connect(recent_keys.forget, sender=ApiKey, dispatch_uid="commerce.recent_keys")
        post_save.connect(recent_keys.forget, sender=Partner, dispatch_uid="commerce.recent_keys_partner")

        from django.db.models.signals import post_migrate

        from .staff_roles import roles_sync_after_migrate

        # the role groups follow ROLES after every migrate, so permissions added by later migrations reach them
        post_migrate.connect(roles_sync_after_migrate, sender=self, dispatch_uid="commerce.roles_sync")

        from .audit import register_models

        register_models()  # audit log of staff actions and money movements (commerce.audit)

        from .services.outbox import outbox_sender_register

        # the transactional outbox's senders (commerce.services.outbox): kind → function taking a Delivery
        outbox_sender_register("order_email", "commerce.tasks.order_email_send")
        outbox_sender_register("pickup_email", "commerce.tasks.pickup_email_send")
        outbox_sender_register("refund_submit", "commerce.tasks.refund_submit_send")
        outbox_sender_register("partner_webhook", "commerce.services.webhooks.webhook_send")
        outbox_sender_register("waitlist_email", "commerce.tasks_waitlist.waitlist_email_send")
        # memberships (docs/memberships.md): member links, Stripe cancellations after the grace period
        outbox_sender_register("member_email", "commerce.memberships.tasks_billing.member_email_send")
        outbox_sender_register("member_join_confirm", "commerce.memberships.tasks_billing.member_join_confirm_send")
        outbox_sender_register(
            "membership_stripe_cancel", "commerce.memberships.tasks_billing.membership_stripe_cancel_send"
        )
        outbox_sender_register("member_credit_stripe", "commerce.memberships.services_credits.member_credit_stripe_send")
