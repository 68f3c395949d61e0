"""manage.py outbox_health [--max-age SECONDS]: exit 1 when outbox rows wait longer than they should.

For a liveness probe or a cron/systemd watchdog beside `manage.py qcluster`: a cluster whose
processes were killed can stop taking tasks without exiting (seen with django-q2 when its pusher
or monitor is SIGKILLed). Nothing is lost then: the rows stay in the outbox and the next healthy
cluster sends them; this check tells the operator (or the supervisor) to restart it. Failed rows
are reported but do not fail the check: they wait for staff in admin → Outbox messages.
"""

from django.core.management.base import BaseCommand, CommandError

from commerce.services.outbox import outbox_backlog


class Command(BaseCommand):
    help = "Exit 1 when the oldest due outbox row is older than --max-age seconds (default 300)."

    def add_arguments(self, parser):
        parser.add_argument("--max-age", type=int, default=300, help="seconds a due row may wait (default 300)")

    def handle(self, *args, max_age: int, **options):
        backlog = outbox_backlog()
        line = f"due={backlog['due']} oldest_due_seconds={backlog['oldest_due_seconds']} failed={backlog['failed']}"
        if backlog["oldest_due_seconds"] > max_age:
            raise CommandError(f"outbox not draining: {line} (restart qcluster; nothing is lost)")
        self.stdout.write(f"ok: {line}")
