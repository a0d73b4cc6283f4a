"""`make demo`: the main job end to end (devtools/demo.py tells the story)."""

import calendar
import json
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from devtools import demo
from devtools.processes import ProcessFailed, celery_worker_process, database_url, simulator_process
from devtools.simulator.client import SimulatorClient
from devtools.stripe_standin.server import start_standin_thread
from exchanges.gateways.ccxt_gateway import clear_caches

STRIPE_DEMO_KEY = "sk_test_demo"
STRIPE_DEMO_WEBHOOK_SECRET = "whsec_demo"


class Command(BaseCommand):
    help = "Start the exchange simulator, a Celery worker and a Stripe stand-in, then replay a month of copy trading."

    def add_arguments(self, parser):
        parser.add_argument("--followers", type=int, default=50)
        parser.add_argument("--days", type=int, default=None, help="Days of last month to replay (default: all of it).")
        parser.add_argument(
            "--simulator-state",
            type=Path,
            default=Path(settings.BASE_DIR) / ".demo" / "simulator.json",
            help="Where to leave the simulator's accounts and prices for `make run` (its simulator starts from them).",
        )

    def handle(self, *args, followers: int, days: int | None, simulator_state: Path, **options):
        period = demo.previous_month(timezone.now().date())
        month_days = calendar.monthrange(period.year, period.month)[1]
        days = month_days if days is None else days
        if not 1 <= followers <= 500 or not 1 <= days <= month_days:
            raise CommandError(f"--followers must be 1..500 and --days 1..{month_days}")
        started = time.monotonic()
        with tempfile.NamedTemporaryFile("w+", prefix="copytrade-demo-", suffix=".log", delete=False) as log:
            try:
                with demo.logging_to(log), simulator_process(log=log) as simulator_url:
                    env = self._configure(simulator_url)
                    stripe_url, stop_stripe = start_standin_thread()
                    settings.STRIPE_API_BASE = stripe_url
                    try:
                        with celery_worker_process(env=env, name="demo", log=log):
                            self.say(f"exchange simulator on {simulator_url}, Stripe stand-in on {stripe_url}, Celery worker up")
                            simulator = SimulatorClient(simulator_url)
                            demo.run(self._story(simulator, period=period, followers=followers, days=days))
                            self._leave_simulator_state(simulator, simulator_state)
                    finally:
                        stop_stripe()
            except ProcessFailed as exc:
                raise CommandError(f"{exc} (process output: {log.name})") from exc
        self.say(f"done in {time.monotonic() - started:.0f} s; the log (warnings, worker and simulator output): {log.name}")

    def _leave_simulator_state(self, simulator: SimulatorClient, path: Path) -> None:
        """The demo's exchange accounts live on this run's simulator, which stops with it; `make
        run` starts its simulator from this snapshot, so the same accounts go on trading there."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(simulator.snapshot()))
        self.say(f"the simulator's accounts and prices are kept in {path}: `make run` carries on from them")

    def _configure(self, simulator_url: str) -> dict[str, str]:
        """This process and the worker: the simulator, fresh prices, the same database."""
        settings.EXCHANGE_URL_OVERRIDES = {**settings.EXCHANGE_URL_OVERRIDES, "binance": simulator_url}
        # The replay moves prices between trades faster than a ticker cache would notice.
        settings.EXCHANGE_TICKER_CACHE_SECONDS = 0
        settings.STRIPE_API_KEY = STRIPE_DEMO_KEY
        settings.STRIPE_WEBHOOK_SECRET = STRIPE_DEMO_WEBHOOK_SECRET
        # Notifications are still written and mailed; the mail stays in memory, not on the screen.
        settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
        clear_caches()
        return {
            "EXCHANGE_URL_OVERRIDES": f"binance={simulator_url}",
            "EXCHANGE_TICKER_CACHE_SECONDS": "0",
            "DATABASE_URL": database_url(),
        }

    def _story(self, simulator: SimulatorClient, *, period, followers: int, days: int) -> demo.Story:
        return demo.Story(
            period=period,
            days=days,
            followers=followers,
            simulator=simulator,
            say=self.say,
            table=self.table,
            progress=lambda total, desc: tqdm(
                total=total, desc=f"{desc:<14}", unit="", file=self.stdout._out, leave=False, disable=not self.stdout.isatty()
            ),
        )

    def say(self, text: str) -> None:
        self.stdout.write(self.style.SUCCESS("==> ") + text)

    def table(self, headers: list[str], rows: list[tuple]) -> None:
        cells = [list(map(str, headers))] + [[_cell(value) for value in row] for row in rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
        rule = "  ".join("-" * width for width in widths)
        self.stdout.write(rule)
        for index, row in enumerate(cells):
            self.stdout.write("  ".join(value.ljust(width) for value, width in zip(row, widths)))
            if index == 0:
                self.stdout.write(rule)
        self.stdout.write(rule)


def _cell(value) -> str:
    from decimal import Decimal

    if value is None:
        return "-"
    if isinstance(value, Decimal):
        return f"{value.normalize():f}" if value == value.to_integral() else f"{value.quantize(Decimal('0.01'))}"
    return str(value)
