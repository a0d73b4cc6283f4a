"""How far one leader trade travels through the project, from `POST /webhook` to the
follower's copied trade recorded filled (issue 25, "Must show": a before/after count).

One signal-only strategy, one follower copying it on the loopback Binance simulator. The
webhook is posted through Django's test client; the Celery messages the path sends are
really sent to the test broker and also recorded, and the in-process "worker" below runs
each engine task (`fan_out_leader_trade`, `execute_copied_trade`) with `Task.apply`, in the
order sent, until the copied trade is filled. A profiler (sys.setprofile, 'call' events)
counts every call of a function defined in the project's apps (copytrade, marketplace,
billing, exchanges, core, config, web; not tests, devtools or site-packages) in that window.

Counted: distinct files, distinct functions (file:qualname) and calls. A generator counts
once however often it resumes; comprehensions and generator expressions fold into the
function that holds them; a lazy import (any module body running, the first request's URL
conf for one) is left out with every call made under it.
The trade is measured twice: cold (the first in this process after the simulator's reset,
so markets are loaded) and warm (a second strategy and follower, same market, caches warm).

    .venv/bin/pytest tests/test_signal_path.py -q -s
"""

import sys
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from inspect import CO_ASYNC_GENERATOR, CO_COROUTINE, CO_GENERATOR
from pathlib import Path

import pytest
from celery import current_app

import copytrade.tasks  # noqa: F401  (registers the engine's tasks run below)
from copytrade.models import CopiedTrade, LeaderTrade
from copytrade.services.copies import copy_start
from copytrade.services.strategies import strategy_create
from tests.copytrade import post_webhook, signal_only_strategy, simulator_account, webhook_body
from tests.factories import make_user

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
APPS = ("copytrade", "marketplace", "billing", "exchanges", "core", "config", "web")
ENGINE_TASKS = {"copytrade.tasks.fan_out_leader_trade", "copytrade.tasks.execute_copied_trade"}
# The leader-trade intake and recording: one module before issue 25, a package after it.
LEADER_TRADES = ("copytrade/services/leader_trades.py", "copytrade/services/leader_trades/")
RESUMABLE = CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR
FOLDED = ("<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>")


def _project_file(filename: str) -> str | None:
    try:
        relative = Path(filename).resolve().relative_to(ROOT)
    except ValueError:
        return None
    return relative.as_posix() if relative.parts[0] in APPS else None


def _is_leader_trades(path: str | None) -> bool:
    return path is not None and (path == LEADER_TRADES[0] or path.startswith(LEADER_TRADES[1]))


@dataclass
class CallTrace:
    calls: Counter = field(default_factory=Counter)  # (file, qualname) -> calls
    imports: Counter = field(default_factory=Counter)  # file -> module bodies run
    leader_trades_entries: Counter = field(default_factory=Counter)  # function entered from outside the module
    leader_trades_calls_out: int = 0  # calls it makes into other project files
    _files: dict = field(default_factory=dict)
    _resumables: set = field(default_factory=set)
    _importing: int = 0

    def file_of(self, code) -> str | None:
        filename = code.co_filename
        if filename not in self._files:
            self._files[filename] = _project_file(filename)
        return self._files[filename]

    def __call__(self, frame, event, arg):
        code = frame.f_code
        if code.co_name == "<module>":  # any module body, ours or a library's: a lazy import
            if event == "call":
                self._importing += 1
                path = self.file_of(code)
                if path is not None:
                    self.imports[path] += 1
            elif event == "return":
                self._importing -= 1
            return
        if event != "call" or self._importing:
            return
        path = self.file_of(code)
        if path is None:
            return
        if code.co_flags & RESUMABLE:
            if frame in self._resumables:  # a generator resumed, not called
                return
            self._resumables.add(frame)
        name = code.co_qualname
        if name.endswith(FOLDED):
            return
        self.calls[(path, name)] += 1
        inside, caller = _is_leader_trades(path), _is_leader_trades(self._project_caller(frame))
        if inside and not caller:
            self.leader_trades_entries[name] += 1
        elif caller and not inside:
            self.leader_trades_calls_out += 1

    def _project_caller(self, frame) -> str | None:
        """The file of the nearest project function up the stack (past Django's decorators)."""
        frame = frame.f_back
        while frame is not None:
            path = self.file_of(frame.f_code)
            if path is not None:
                return path
            frame = frame.f_back
        return None

    def start(self) -> None:
        sys.setprofile(self)

    def stop(self) -> None:
        sys.setprofile(None)
        self._resumables.clear()

    @property
    def files(self) -> set[str]:
        return {path for path, _ in self.calls}

    def report(self, title: str) -> str:
        by_file: dict[str, list[tuple[str, int]]] = {}
        for (path, name), count in sorted(self.calls.items()):
            by_file.setdefault(path, []).append((name, count))
        lines = [f"=== {title}: {len(self.files)} files, {len(self.calls)} functions, {sum(self.calls.values())} calls"]
        for path, functions in by_file.items():
            lines.append(f"{path}  ({len(functions)} functions, {sum(c for _, c in functions)} calls)")
            lines.extend(f"    {count:4d}  {name}" for name, count in functions)
        leader_calls = sum(c for (p, _), c in self.calls.items() if _is_leader_trades(p))
        leader_functions = sum(1 for p, _ in self.calls if _is_leader_trades(p))
        lines.append(
            f"leader-trade intake/record: entered {sum(self.leader_trades_entries.values())} times from project code "
            f"outside it ({dict(self.leader_trades_entries)}), {leader_functions} functions and {leader_calls} calls "
            f"inside, {self.leader_trades_calls_out} calls out to other project files"
        )
        landmarks = {
            f"{name} {count}"
            for (_, name), count in self.calls.items()
            if name.endswith(("Gateway.__init__", "conversion_check")) or name == "PooledSession.request"
        }
        lines.append(f"landmarks (gateways built, conversion checks, HTTP requests to the exchange): {', '.join(sorted(landmarks))}")
        lines.append(f"project modules imported lazily in the window (their import-time calls not counted): {len(self.imports)}")
        return "\n".join(lines)


@pytest.fixture
def sent(monkeypatch) -> list[tuple]:
    """Celery messages the path sends: still sent to the test broker, and recorded here."""
    app = current_app._get_current_object()
    send_task = app.send_task
    messages: list[tuple] = []

    def recording_send_task(name, args=None, kwargs=None, **options):
        messages.append((name, tuple(args or ()), dict(kwargs or {})))
        return send_task(name, args=args, kwargs=kwargs, **options)

    monkeypatch.setattr(app, "send_task", recording_send_task)
    return messages


@pytest.fixture
def sim(simulated_binance, settings):
    settings.EXCHANGE_TICKER_CACHE_SECONDS = 0
    simulated_binance.set_price(symbol="BTC/USDT", price="65000")
    return simulated_binance


def one_trade_traced(
    *, client, sim, sent, captured, leader, follower, external_id: str, leader_account: bool
) -> tuple[CallTrace, CopiedTrade]:
    if leader_account:  # the webhook places the leader's own order on its account, then records its fill
        own = simulator_account(sim, leader, label=f"Leader {external_id}", usdt="100000")
        strategy = strategy_create(owner=leader, name=f"Account {external_id}", leader_account_id=own.pk, is_public_leader=True)
    else:
        strategy = signal_only_strategy(leader, capital="100000", name=f"Signals {external_id}")
    account = simulator_account(sim, follower, label=f"Binance {external_id}")
    copy = copy_start(follower=follower, strategy_id=strategy.pk, exchange_account_id=account.pk, allocation_percent=Decimal("50"))
    body = webhook_body(strategy, external_id=external_id, amount="1", price="65000")
    sent.clear()
    trace = CallTrace()

    def filled() -> CopiedTrade | None:
        return CopiedTrade.objects.filter(copy=copy, status=CopiedTrade.Status.FILLED).first()

    trace.start()
    try:
        with captured(execute=True):
            response = post_webhook(client, body, secret=strategy.webhook_secret)
        trace.stop()
        assert response.status_code == 201, response.content
        done, runs = filled(), 0
        while done is None:
            assert sent, "the path sent no further message and the copied trade is not filled"
            name, args, kwargs = sent.pop(0)
            if name not in ENGINE_TASKS:
                continue
            runs += 1
            assert runs <= 10, f"the engine did not settle: {list(CopiedTrade.objects.values('status', 'reason'))}"
            trace.start()
            with captured(execute=True):
                result = current_app.tasks[name].apply(args=args, kwargs=kwargs)
            trace.stop()
            assert result.state in ("SUCCESS", "RETRY"), result.traceback
            done = filled()
    finally:
        trace.stop()
    assert LeaderTrade.objects.filter(strategy=strategy, external_id=external_id).count() == 1
    return trace, done


@pytest.mark.parametrize("leader_account", [False, True], ids=["signal-only", "leader-account"])
def test_one_webhook_signal_to_the_copied_fill(api_client, sim, sent, owner, follower, django_capture_on_commit_callbacks, leader_account):
    kwargs = {
        "client": api_client,
        "sim": sim,
        "sent": sent,
        "captured": django_capture_on_commit_callbacks,
        "leader_account": leader_account,
    }
    scenario = "leader with its own account" if leader_account else "signal-only leader"
    cold, cold_fill = one_trade_traced(leader=owner, follower=follower, external_id="cold-1", **kwargs)
    warm, warm_fill = one_trade_traced(
        leader=make_user("second-leader"), follower=make_user("second-follower"), external_id="warm-1", **kwargs
    )

    print()
    print(cold.report(f"cold, {scenario} (markets loaded in the window)"))
    print(warm.report(f"warm, {scenario} (a second strategy and follower, caches warm)"))
    for fill in (cold_fill, warm_fill):
        assert fill.filled_amount > 0
    for trace in (cold, warm):
        assert ("copytrade/apis.py", "WebhookApi.post") in trace.calls
        assert ("copytrade/services/execution.py", "copied_trade_execute") in trace.calls
        # The webhook hands the signal to the leader-trade intake once.
        assert trace.leader_trades_entries["webhook_signal_receive"] == 1
