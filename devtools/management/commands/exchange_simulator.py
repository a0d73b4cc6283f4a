import ipaddress
import json
from decimal import Decimal
from pathlib import Path

from django.core.management.base import BaseCommand

from devtools.simulator.bybit import bybit_state
from devtools.simulator.server import run_simulator
from devtools.simulator.state import DEFAULT_COMMISSION_RATE, DUPLICATE_SCOPES, SimulatorState


class Command(BaseCommand):
    help = (
        "Serve the loopback Binance spot and Bybit v5 spot simulator on one port "
        "(set EXCHANGE_URL_OVERRIDES=binance=http://HOST:PORT,bybit=http://HOST:PORT)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--latency-ms", type=float, default=0.0, help="Delay added to every exchange API request.")
        parser.add_argument("--seed", type=int, default=None, help="Seed for generated keys and random faults.")
        parser.add_argument("--commission-rate", type=Decimal, default=DEFAULT_COMMISSION_RATE)
        parser.add_argument(
            "--control-from",
            action="append",
            default=[],
            metavar="CIDR",
            type=ipaddress.ip_network,
            help="A private network whose clients may use the /_sim/ control API too (loopback always may).",
        )
        parser.add_argument(
            "--duplicate-scope",
            choices=DUPLICATE_SCOPES,
            default="open",
            help="Reject a reused newClientOrderId while its order is open (Binance) or always.",
        )
        parser.add_argument(
            "--state",
            type=Path,
            default=None,
            help="Start from this snapshot if it exists (accounts and prices; `make demo` writes .demo/simulator.json).",
        )

    def handle(self, *args, **options):
        state = SimulatorState(
            seed=options["seed"],
            latency_ms=options["latency_ms"],
            commission_rate=options["commission_rate"],
            duplicate_scope=options["duplicate_scope"],
        )
        snapshot_path = options["state"]
        if snapshot_path is not None and snapshot_path.exists():
            snapshot = json.loads(snapshot_path.read_text())
            state.restore(snapshot)
            self.stdout.write(
                f"carrying on from {snapshot_path}: {len(snapshot.get('accounts', []))} accounts and their balances, price history"
            )
        run_simulator(
            host=options["host"],
            port=options["port"],
            state=state,
            print_fn=self.stdout.write,
            control_networks=tuple(options["control_from"]),
            bybit=bybit_state(seed=options["seed"], latency_ms=options["latency_ms"], commission_rate=options["commission_rate"]),
        )
