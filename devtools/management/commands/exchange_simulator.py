import ipaddress
import json
from decimal import Decimal
from pathlib import Path

from django.core.management.base import BaseCommand

from devtools.simulator.bybit import bybit_state
from devtools.simulator.bybit_snapshot import bybit_restore, bybit_snapshot
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
            help="Start from this snapshot if it exists, and write the state back to it when stopped (Binance's accounts and "
            "prices; Bybit's accounts, prices and order book; `make demo` writes .demo/simulator.json, `make run` carries on).",
        )

    def handle(self, *args, **options):
        state = SimulatorState(
            seed=options["seed"],
            latency_ms=options["latency_ms"],
            commission_rate=options["commission_rate"],
            duplicate_scope=options["duplicate_scope"],
        )
        bybit = bybit_state(seed=options["seed"], latency_ms=options["latency_ms"], commission_rate=options["commission_rate"])
        snapshot_path = options["state"]
        if snapshot_path is not None and snapshot_path.exists():
            snapshot = json.loads(snapshot_path.read_text())
            state.restore(snapshot)
            bybit_restore(bybit, snapshot.get("bybit") or {})
            self.stdout.write(
                f"carrying on from {snapshot_path}: {len(snapshot.get('accounts', []))} Binance accounts and their balances, "
                f"{len((snapshot.get('bybit') or {}).get('accounts', []))} Bybit accounts with their balances and orders, price history"
            )

        def save() -> None:
            """The state as it is now, for the next start (written whole, then renamed over the old one)."""
            snapshot_path.parent.mkdir(parents=True, exist_ok=True)
            written = snapshot_path.with_name(snapshot_path.name + ".tmp")
            written.write_text(json.dumps({**state.snapshot(), "bybit": bybit_snapshot(bybit)}))
            written.replace(snapshot_path)
            self.stdout.write(f"the simulator's state is kept in {snapshot_path}")

        run_simulator(
            host=options["host"],
            port=options["port"],
            state=state,
            print_fn=self.stdout.write,
            control_networks=tuple(options["control_from"]),
            bybit=bybit,
            on_stop=save if snapshot_path is not None else None,
        )
