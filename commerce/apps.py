from django.apps import AppConfig


class CommerceConfig(AppConfig):
    name = "commerce"
    verbose_name = "Commerce"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from djstripe import signals

        from .payments.stripe_webhooks import on_webhook_pre_process

        signals.webhook_pre_process.connect(on_webhook_pre_process, dispatch_uid="commerce.stripe_webhooks")
