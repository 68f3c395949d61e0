"""Verify the asset store: ref_count == actual references, bytes present, bytes in the recorded tier,
no orphan bytes. --fix repairs what it can (sessions_app.assets.integrity). Exit status 1 when
something is wrong and was not fixed."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from sessions_app.assets.integrity import assets_check


class Command(BaseCommand):
    help = "Check reference counts and stored bytes of session assets; --fix repairs them."

    def add_arguments(self, parser):
        parser.add_argument("--fix", action="store_true", help="Recount, move misplaced files back, sweep orphans.")

    def handle(self, *args, fix=False, **options):
        report = assets_check(fix=fix)
        for sha, recorded, actual in report.miscounted:
            self.stdout.write(f"miscounted {sha}: ref_count {recorded}, references {actual}")
        for sha in report.missing:
            self.stdout.write(f"bad bytes {sha} (referenced): {report.problems.get(sha, 'no bytes stored')}")
        for sha, tier, found in report.misplaced:
            self.stdout.write(f"misplaced {sha}: recorded {tier}, found in {found}")
        for sha in report.orphans:
            self.stdout.write(f"orphan bytes {sha}")
        self.stdout.write(f"checked {report.checked} object(s); fixed {report.fixed}")
        unfixed = report.missing or (not fix and not report.ok)
        if unfixed:
            raise CommandError("The asset store has problems" + ("" if fix else " (run with --fix to repair)") + ".")
