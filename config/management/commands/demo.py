"""`make demo`: the service end to end against the loopback simulator and a real Celery worker."""

import tempfile
import time
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from config.processes import ProcessFailed, celery_worker_process, simulator_process, wait_until
from exchanges.errors import OrderNotFoundError
from exchanges.gateways import gateway_for_account
from exchanges.gateways.ccxt_gateway import clear_caches
from exchanges.services import exchange_account_create
from exchanges.simulator.client import SimulatorClient
from exchanges.tasks import place_order

DEMO_PREFIX = "demo-"
SYMBOL = "BTC/USDT"


class Command(BaseCommand):
    help = "Start the exchange simulator and a Celery worker, then run the main job end to end with a summary."

    def handle(self, *args, **options):
        started = time.monotonic()
        with tempfile.NamedTemporaryFile("w+", prefix="copytrade-demo-", suffix=".log", delete=False) as log:
            self.log_path = log.name
            try:
                with simulator_process(log=log) as simulator_url:
                    self._point_at_simulator(simulator_url)
                    with celery_worker_process(env={"EXCHANGE_URL_OVERRIDES": f"binance={simulator_url}"}, name="demo", log=log):
                        self.step(f"exchange simulator on {simulator_url}, Celery worker up")
                        self.run_story(SimulatorClient(simulator_url))
            except ProcessFailed as exc:
                raise CommandError(f"{exc} (process output: {self.log_path})") from exc
        self.step(f"done in {time.monotonic() - started:.1f} s (worker and simulator output: {self.log_path})")

    def step(self, text: str) -> None:
        self.stdout.write(self.style.SUCCESS("==> ") + text)

    def _point_at_simulator(self, simulator_url: str) -> None:
        settings.EXCHANGE_URL_OVERRIDES = {**settings.EXCHANGE_URL_OVERRIDES, "binance": simulator_url}
        clear_caches()

    def run_story(self, simulator: SimulatorClient) -> None:
        demo_reset()
        self.step("demo data reset (only users named demo-*)")
        trader = get_user_model().objects.create_user(username=f"{DEMO_PREFIX}trader", email="trader@demo.invalid")
        credentials = simulator.create_account(balances={"USDT": "10000"})
        simulated = exchange_account_create(
            owner=trader, exchange_id="binance", label="Binance (simulator)",
            api_key=credentials["api_key"], api_secret=credentials["api_secret"],
        )  # fmt: skip
        paper = exchange_account_create(owner=trader, exchange_id="paper", label="Paper", starting_balance={"USDT": Decimal("10000")})
        self.step("two accounts for demo-trader: a paper account and a Binance account on the simulator")

        stamp = int(time.time())
        orders = [(paper, f"demo-{stamp}-paper"), (simulated, f"demo-{stamp}-binance")]
        for account, client_order_id in orders:
            place_order.delay(account.id, SYMBOL, "buy", "0.01", client_order_id)
        self.step(f"two market orders (buy 0.01 {SYMBOL}) enqueued to the Celery worker")

        rows = []
        for account, client_order_id in orders:
            result = wait_until(
                lambda: _filled_order(account, client_order_id), timeout=60, what=f"fill of {client_order_id}", interval=0.2
            )
            rows.append((account.label, client_order_id, result.status, result.filled, result.average_price, result.fee))
        self.table(["account", "client order id", "status", "filled", "avg price", "fee"], rows)

    def table(self, headers: list[str], rows: list[tuple]) -> None:
        cells = [headers] + [[_cell(value) for value in row] for row in rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
        line = "  ".join("-" * width for width in widths)
        self.stdout.write(line)
        for index, row in enumerate(cells):
            self.stdout.write("  ".join(value.ljust(width) for value, width in zip(row, widths)))
            if index == 0:
                self.stdout.write(line)
        self.stdout.write(line)


def _filled_order(account, client_order_id: str):
    try:
        result = gateway_for_account(account).fetch_order_by_client_id(symbol=SYMBOL, client_order_id=client_order_id)
    except OrderNotFoundError:
        return None
    return result if result.status == "closed" and result.filled > 0 else None


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    return str(value)


@transaction.atomic
def demo_reset() -> None:
    """Delete what earlier demo runs made: the demo-* users and everything they own."""
    from exchanges.models import ExchangeAccount

    users = get_user_model().objects.filter(username__startswith=DEMO_PREFIX)
    ExchangeAccount.objects.filter(owner__in=users).delete()
    users.delete()
