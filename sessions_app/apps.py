from django.apps import AppConfig


class SessionsAppConfig(AppConfig):
    name = "sessions_app"
    verbose_name = "Live sessions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from commerce.services.outbox import outbox_sender_register

        # Garbage collection of unreferenced asset bytes (sessions_app.assets.cas).
        outbox_sender_register("asset.collect", "sessions_app.assets.tasks.asset_collect_send")
        # CDN purge/prefetch decided by the daily hot-set ranking (sessions_app.assets.cdn).
        outbox_sender_register("asset.cdn", "sessions_app.assets.cdn.cdn_send")
        # Follow confirmations, reminders, moved/cancelled notices (sessions_app.cadence, docs/cadence.md).
        outbox_sender_register("cadence_email", "sessions_app.cadence.senders.cadence_email_send")
