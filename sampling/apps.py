from django.apps import AppConfig


class SamplingConfig(AppConfig):
    name = "sampling"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from commerce.services.outbox import outbox_sender_register

        # sampling's e-mails go through commerce's transactional outbox
        outbox_sender_register("sample_request_email", "sampling.tasks.request_email_send")
        outbox_sender_register("sample_offer_email", "sampling.tasks.offer_email_send")
        outbox_sender_register("sample_not_eligible_email", "sampling.tasks.not_eligible_email_send")
