"""`make multihost`: the service across network namespaces, one worker host killed mid-run
(devtools/multihost.py says what runs where)."""

import json
import tempfile

from django.core.management.base import BaseCommand, CommandError

from devtools import multihost
from devtools.processes import ProcessFailed


class Command(BaseCommand):
    help = "Run db, simulator, web and two worker hosts in network namespaces; kill one worker host mid-fan-out (needs root)."

    def add_arguments(self, parser):
        parser.add_argument("--followers", type=int, default=300)
        parser.add_argument("--latency-ms", type=float, default=200.0, help="Exchange latency, so orders are in flight at the kill.")
        parser.add_argument("--kill-after", type=float, default=0.3, help="Kill host wb once this share of the orders is placed.")
        parser.add_argument("--lease-seconds", type=int, default=5, help="The workers' COPYTRADE_EXECUTION_LEASE_SECONDS.")
        parser.add_argument("--stuck-after", type=float, default=2.0, help="The sweeper's stuck_after, seconds.")
        parser.add_argument("--concurrency", type=int, default=8, help="Threads per worker host.")
        parser.add_argument("--timeout", type=float, default=120.0)
        parser.add_argument("--json", action="store_true", help="Print the figures as JSON too.")

    def handle(self, *args, **options):
        missing = multihost.requirements_missing()
        if missing:
            raise CommandError(f"make multihost {missing}")
        if options["followers"] < 10:
            raise CommandError("--followers: at least 10, so the kill falls mid-run")
        with tempfile.NamedTemporaryFile("w+", prefix="copytrade-multihost-", suffix=".log", delete=False) as log:
            try:
                figures = multihost.run(
                    followers=options["followers"],
                    latency_ms=options["latency_ms"],
                    kill_after=options["kill_after"],
                    lease_seconds=options["lease_seconds"],
                    stuck_after=options["stuck_after"],
                    concurrency=options["concurrency"],
                    timeout=options["timeout"],
                    log=log,
                    step=self.step,
                )
            except (ProcessFailed, multihost.MultihostError) as exc:
                raise CommandError(f"{exc} (process output: {log.name})") from exc
        for line in multihost.report_lines(figures):
            self.stdout.write(line)
        self.stdout.write(f"process output: {log.name}")
        if options["json"]:
            self.stdout.write(json.dumps(figures.as_dict(), indent=2))
        if figures.duplicates or figures.missing:
            raise CommandError(f"{figures.duplicates} duplicate and {figures.missing} missing orders")

    def step(self, text: str) -> None:
        self.stdout.write(self.style.SUCCESS("==> ") + text)
        self.stdout.flush()
