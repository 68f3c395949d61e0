"""Re-record the asset cost ledger for a range of UTC days, with a progress bar.

    manage.py asset_costs_backfill --from 2026-11-01 --to 2026-11-30

Each day is replaced in one transaction (idempotent), so the command can be stopped and re-run.
"""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from sessions_app.assets.costs import CostError, asset_cost_ledger_backfill


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"{text!r} is not a date (YYYY-MM-DD)") from exc


class Command(BaseCommand):
    help = "Record the asset cost ledger (AssetCostDay) for every UTC day from --from to --to inclusive."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="start", required=True, help="First UTC day, YYYY-MM-DD.")
        parser.add_argument("--to", dest="end", required=True, help="Last UTC day, YYYY-MM-DD.")

    def handle(self, *args, start, end, **options):
        start, end = _day(start), _day(end)
        if end < start:
            raise CommandError("--to is before --from")
        total = (end - start).days + 1
        with tqdm(total=total, unit="day", file=self.stderr, disable=options.get("verbosity", 1) == 0) as bar:

            def progress(day):
                bar.set_postfix_str(day.isoformat())
                bar.update(1)

            try:
                n = asset_cost_ledger_backfill(start=start, end=end, progress=progress)
            except CostError as exc:
                raise CommandError(exc.message) from exc
        self.stdout.write(f"recorded {n} day(s) of the asset cost ledger")
