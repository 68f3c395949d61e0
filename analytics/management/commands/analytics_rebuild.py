from django.core.management.base import BaseCommand

from analytics.services import analytics_rebuild, events_flush_all


class Command(BaseCommand):
    help = "Flush buffered events, then rebuild every funnel rollup and customer stat from raw data."

    def handle(self, *args, **options):
        moved = events_flush_all()
        result = analytics_rebuild()
        self.stdout.write(
            f"flushed {moved} event(s); rebuilt {result['actors']} actor row(s), {result['customers']} customer(s)."
        )
