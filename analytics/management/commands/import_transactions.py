"""`manage.py import_transactions FILE --source NAME [--currency USD] [--columns …]`."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from analytics.services import transactions_import
from commerce.money import MoneyError


class Command(BaseCommand):
    help = (
        "Load a transaction log (customer, date, quantity, amount) as purchases for repeat, cohort and LTV "
        "figures. All or nothing: any bad row imports nothing and is reported as 'row N, column X: problem'."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--source", required=True, help="A short name, e.g. cdnow (customers become import:cdnow:<id>)."
        )
        parser.add_argument("--currency", default="USD", help="ISO 4217 code of the amounts (major units in the file).")
        parser.add_argument(
            "--columns",
            default="customer,date,quantity,amount",
            help="Column names for a file without a header; '_' skips a column (CDNOW_sample: customer,_,date,quantity,amount).",
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, path: Path, source: str, currency: str, columns: str, no_progress: bool, **options):
        if not path.is_file():
            raise CommandError(f"{path} is not a file")
        bar = tqdm(unit="row", desc="import", disable=no_progress, file=self.stderr._out)
        try:
            report = transactions_import(
                path, source=source, currency=currency, columns=columns.split(","), progress=bar.update
            )
        except (MoneyError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        if not report.ok:
            for error in report.errors[:200]:
                self.stderr.write(error)
            raise CommandError(f"{len(report.errors)} bad row(s); nothing imported.")
        self.stdout.write(
            f"{report.rows} rows read, {report.added} purchases added, {report.customers} customers "
            f"(source import:{source}, revenue {report.revenue_minor} minor units of {currency})."
        )
