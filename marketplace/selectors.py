"""Reads for the marketplace: the traders list, a trader's profile, metrics by strategy,
the leaderboard of strategies.

The public face is approved and public providers only; anything else is "not found".
"""

from dataclasses import dataclass

from django.conf import settings
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DecimalField,
    Exists,
    F,
    FilteredRelation,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from copytrade.models import CopyRelationship, LeaderTrade, Strategy
from copytrade.selectors import strategy_list_public
from core.errors import NotFoundError
from marketplace.metrics import WINDOWS
from marketplace.models import ProviderEvent, ProviderMetrics, Rating, SignalProvider, StrategyMetrics, TradeVerification

DEFAULT_WINDOW = "30d"
# The metric columns the list shows for its window, read from that window's metrics row.
LIST_METRICS = (
    "total_return", "sharpe_ratio", "sortino_ratio", "win_rate", "profit_factor", "profit_factor_infinite",
    "max_drawdown", "calmar_ratio", "closed_trades", "copied_aum", "as_of", "returns_count", "first_day", "last_day",
)  # fmt: skip
# sort key -> (annotation, descending). Smaller drawdown is better, so it sorts ascending.
TRADER_SORTS = {
    "total_return": ("metric_total_return", True),
    "sharpe_ratio": ("metric_sharpe_ratio", True),
    "sortino_ratio": ("metric_sortino_ratio", True),
    "calmar_ratio": ("metric_calmar_ratio", True),
    "profit_factor": ("metric_profit_factor", True),
    "win_rate": ("metric_win_rate", True),
    "follower_count": ("follower_count", True),
    "average_rating": ("average_rating", True),
    "max_drawdown": ("metric_max_drawdown", False),
}


def _follower_count():
    """Distinct followers with a live copy of any of the provider's strategies."""
    live = (
        CopyRelationship.objects.filter(strategy__owner_id=OuterRef("user_id"), status__in=CopyRelationship.LIVE_STATUSES)
        .order_by()
        .values("strategy__owner_id")
        .annotate(count=Count("follower_id", distinct=True))
        .values("count")
    )
    return Coalesce(Subquery(live, output_field=IntegerField()), Value(0))


def provider_list_public(
    *,
    window: str = DEFAULT_WINDOW,
    sort_by: str = "total_return",
    min_rating=None,
    min_win_rate=None,
    min_sharpe=None,
    max_drawdown=None,
    risk_level: str | None = None,
    verified: bool | None = None,
) -> QuerySet[SignalProvider]:
    """Approved public providers with one window's metrics, filtered and sorted.

    One query per page whatever its size (plus the paginator's count): the window's metrics
    row is joined through a FilteredRelation and its columns annotated, the follower count
    is a correlated subquery. Providers without metrics yet sort last and fail any metric
    filter. Sorted on a figure, providers whose whole record is long enough (`ranked`, the
    leaderboard's minimum record) come first. Ties break on id so pages never overlap.
    """
    if window not in WINDOWS:
        raise ValueError(f"unknown window {window!r}")
    annotation, descending = TRADER_SORTS[sort_by]
    providers = (
        SignalProvider.objects.filter(status=SignalProvider.Status.APPROVED, is_public=True)
        .annotate(window_metrics=FilteredRelation("metrics", condition=Q(metrics__window=window)))
        .annotate(**{f"metric_{name}": F(f"window_metrics__{name}") for name in LIST_METRICS})
        .annotate(
            whole_record=FilteredRelation("metrics", condition=Q(metrics__window="all")),
            record_days=Coalesce(F("whole_record__returns_count"), 0),
            record_closed_trades=Coalesce(F("whole_record__closed_trades"), 0),
        )
        .annotate(
            ranked=Case(When(_long_enough(), then=Value(True)), default=Value(False), output_field=BooleanField()),
            follower_count=_follower_count(),
        )
    )
    if min_rating is not None:
        providers = providers.filter(average_rating__gte=min_rating)
    if min_win_rate is not None:
        providers = providers.filter(metric_win_rate__gte=min_win_rate)
    if min_sharpe is not None:
        providers = providers.filter(metric_sharpe_ratio__gte=min_sharpe)
    if max_drawdown is not None:
        providers = providers.filter(metric_max_drawdown__lte=max_drawdown)
    if risk_level:
        providers = providers.filter(risk_level=risk_level)
    if verified is not None:
        verified_q = Q(verification_status=SignalProvider.VerificationStatus.VERIFIED)
        providers = providers.filter(verified_q if verified else ~verified_q)
    order = [F(annotation).desc(nulls_last=True) if descending else F(annotation).asc(nulls_last=True)]
    if annotation.startswith("metric_"):
        order.insert(0, F("ranked").desc())
    if sort_by == "profit_factor":
        order.insert(1, F("metric_profit_factor_infinite").desc(nulls_last=True))
    return providers.order_by(*order, "id")


def _provider_profile(providers: QuerySet[SignalProvider]) -> SignalProvider | None:
    return (
        providers.filter(status=SignalProvider.Status.APPROVED, is_public=True)
        .annotate(follower_count=_follower_count())
        .prefetch_related(
            Prefetch("metrics", queryset=ProviderMetrics.objects.order_by("window"), to_attr="window_metrics"),
            Prefetch(
                "ratings",
                queryset=Rating.objects.exclude(comment="").select_related("user__profile").order_by("-updated_at", "-id")[
                    : settings.MARKETPLACE_RECENT_COMMENTS
                ],
                to_attr="recent_comments",
            ),
            Prefetch(
                "user__strategies",
                # Bounded like everything a page lists: a user has at most this many strategies.
                queryset=Strategy.objects.filter(is_public_leader=True).order_by("id")[: settings.USER_MAX_STRATEGIES],
                to_attr="public_strategies",
            ),
        )
        .select_related("user")
        .first()
    )


def provider_get_public(*, provider_id: int) -> SignalProvider:
    """A trader's profile: metrics of every window, public strategies, recent comments."""
    provider = _provider_profile(SignalProvider.objects.filter(id=provider_id))
    if provider is None:
        raise NotFoundError("Trader not found.")
    return provider


def provider_get_public_of(*, user_id: int) -> SignalProvider | None:
    """The public provider profile of a strategy's owner, or None (AI strategies, owners
    who are not approved providers)."""
    return _provider_profile(SignalProvider.objects.filter(user_id=user_id))


def rating_distribution(*, provider: SignalProvider) -> dict[str, int]:
    """How many ratings of each star count: {"1": n, ..., "5": n}."""
    counts = dict(Rating.objects.filter(provider=provider).values_list("stars").annotate(count=Count("id")).order_by())
    return {str(stars): counts.get(stars, 0) for stars in range(1, 6)}


def strategy_metrics_map(*, strategy_ids, window: str) -> dict[int, StrategyMetrics]:
    """Stored metrics of one window by strategy id (one query); strategies without metrics are absent.

    A `StrategyMetrics` row carries total_return, sharpe_ratio (also as `.sharpe`),
    sortino_ratio, win_rate, profit_factor (+ profit_factor_infinite), max_drawdown (percent),
    calmar_ratio, follower_count, copied_aum, as_of; see `PerformanceMetrics` for units.
    """
    if window not in WINDOWS:
        raise ValueError(f"unknown window {window!r}; expected one of {', '.join(WINDOWS)}")
    rows = StrategyMetrics.objects.filter(strategy_id__in=list(strategy_ids), window=window).defer("equity_series")
    return {row.strategy_id: row for row in rows}


def provider_event_list(*, provider: SignalProvider) -> QuerySet[ProviderEvent]:
    return ProviderEvent.objects.filter(provider=provider).select_related("actor").order_by("-created_at", "-id")


def provider_verification_findings(*, provider: SignalProvider) -> QuerySet[TradeVerification]:
    """Mismatches and unavailable candles of the provider's strategies, open flags first."""
    return (
        TradeVerification.objects.filter(strategy__owner_id=provider.user_id)
        .exclude(status=TradeVerification.Status.VERIFIED)
        .select_related("leader_trade", "strategy")
        .order_by(F("resolved_at").desc(nulls_first=True), "-checked_at", "-id")
    )


def provider_verification_summary(*, provider: SignalProvider) -> dict[str, int]:
    counts = dict(
        TradeVerification.objects.filter(strategy__owner_id=provider.user_id)
        .values_list("status")
        .annotate(count=Count("id"))
        .order_by()
    )
    return {status: counts.get(status, 0) for status in TradeVerification.Status.values}


# --- The leaderboard (/api/copy-trading/top, /leader/{id}) ---------------------------

TOP_LIMIT = 50


LEADER_RECENT_TRADES = 20


TOP_SORTS = {
    "copiers": ["-copiers_count", "id"],
    "created": ["-created_at", "-id"],
    "name": ["name", "id"],
    # Metrics of the chosen window (marketplace.StrategyMetrics): ranked records first (see
    # `_ranked`), then by the figure; strategies not yet measured last.
    "total_return": ["-ranked", F("total_return").desc(nulls_last=True), "id"],
    "sharpe": ["-ranked", F("sharpe").desc(nulls_last=True), "id"],
    "sortino": ["-ranked", F("sortino").desc(nulls_last=True), "id"],
    "calmar": ["-ranked", F("calmar").desc(nulls_last=True), "id"],
    # An infinite profit factor (profits, no losing trade) is stored as null + a flag: it comes first.
    "profit_factor": [
        "-ranked", F("profit_factor_infinite").desc(nulls_last=True), F("profit_factor").desc(nulls_last=True), "id",
    ],  # fmt: skip
    "win_rate": ["-ranked", F("win_rate").desc(nulls_last=True), "id"],
    "max_drawdown": ["-ranked", F("max_drawdown").asc(nulls_last=True), "id"],
}


TOP_WINDOWS = ("7d", "30d", "90d", "all")


def strategy_list_listed() -> QuerySet[Strategy]:
    """The public running strategies the leaderboard lists and anyone may copy: a signal
    provider's only once curators have approved it (not while pending, nor when rejected or
    suspended); so is an AI strategy that charges a fee, whose owner applies as a provider.
    Leaders who charge nothing (no provider profile, an AI strategy at 0 %) are listed as
    they are."""
    return strategy_list_public().filter(_curated())


def _curated() -> Q:
    """Every leader who charges a fee went through curation: no provider profile that is not
    approved, and no fee-charging AI strategy without an approved one."""
    approved = SignalProvider.objects.filter(user_id=OuterRef("owner_id"), status=SignalProvider.Status.APPROVED)
    unapproved = SignalProvider.objects.filter(user_id=OuterRef("owner_id")).exclude(status=SignalProvider.Status.APPROVED)
    charges_as_ai = Q(kind=Strategy.Kind.AI, copy_override_percent__gt=0)
    return ~Exists(unapproved) & (~charges_as_ai | Exists(approved))


def strategy_awaits_curation(*, strategy_id: int) -> bool:
    """Whether copying this strategy waits for a curator's approval of its owner."""
    return not Strategy.objects.filter(_curated(), id=strategy_id).exists()


def strategy_list_top(
    *, kind: str | None = None, min_copiers: int | None = None, verified: bool | None = None, sort: str = "copiers", window: str = "30d"
) -> QuerySet[Strategy]:
    """The leaderboard: the top 50 public running strategies by `sort`, after the filters,
    each annotated with its audited metrics of `window` (null until first computed), their
    coverage and whether its whole record is long enough to be ranked (`ranked`). Sorted on
    a figure, ranked records come first: a record of one winning trade is not the best."""
    strategies = _with_window_metrics(strategy_list_listed().select_related("owner__profile", "owner__signal_provider"), window=window)
    if kind:
        strategies = strategies.filter(kind=kind)
    if min_copiers:
        strategies = strategies.filter(copiers_count__gte=min_copiers)
    if verified is not None:
        strategies = strategies.filter(verified_badge=verified)
    return strategies.order_by(*TOP_SORTS[sort])[:TOP_LIMIT]


def _long_enough() -> Q:
    """A record long enough to be ranked: `LEADERBOARD_MIN_DAYS` days of returns and
    `LEADERBOARD_MIN_CLOSED_TRADES` closed trades over the whole record."""
    return Q(record_days__gte=settings.LEADERBOARD_MIN_DAYS, record_closed_trades__gte=settings.LEADERBOARD_MIN_CLOSED_TRADES)


def _with_window_metrics(strategies: QuerySet[Strategy], *, window: str) -> QuerySet[Strategy]:
    """Annotate one window's stored metrics and coverage, and the whole record's length
    (two LEFT JOINs, no query per row)."""
    return strategies.annotate(
        window_metrics=FilteredRelation("marketplace_metrics", condition=Q(marketplace_metrics__window=window)),
        whole_record=FilteredRelation("marketplace_metrics", condition=Q(marketplace_metrics__window="all")),
        total_return=F("window_metrics__total_return"),
        sharpe=F("window_metrics__sharpe_ratio"),
        sortino=F("window_metrics__sortino_ratio"),
        calmar=F("window_metrics__calmar_ratio"),
        profit_factor=F("window_metrics__profit_factor"),
        profit_factor_infinite=F("window_metrics__profit_factor_infinite"),
        win_rate=F("window_metrics__win_rate"),
        max_drawdown=F("window_metrics__max_drawdown"),
        metrics_as_of=F("window_metrics__as_of"),
        first_day=F("window_metrics__first_day"),
        last_day=F("window_metrics__last_day"),
        days=Coalesce(F("window_metrics__returns_count"), 0),
        closed_trades=Coalesce(F("window_metrics__closed_trades"), 0),
        record_days=Coalesce(F("whole_record__returns_count"), 0),
        record_closed_trades=Coalesce(F("whole_record__closed_trades"), 0),
    ).annotate(ranked=Case(When(_long_enough(), then=Value(True)), default=Value(False), output_field=BooleanField()))


def strategy_get_leader(*, user, strategy_id: int, window: str = "30d") -> Strategy:
    """A leader page: listed strategies for everyone (strategy_list_listed), any of its owner's
    for its owner."""
    listed = Q(is_public_leader=True) & _curated()
    strategy = (
        _with_window_metrics(Strategy.objects.filter(listed | Q(owner_id=getattr(user, "pk", None)), id=strategy_id), window=window)
        .select_related("owner__profile", "owner__signal_provider")
        .prefetch_related(Prefetch("trades", queryset=LeaderTrade.objects.order_by("-sequence")[:LEADER_RECENT_TRADES], to_attr="recent_trades"))
        .first()
    )
    if strategy is None:
        raise NotFoundError("Strategy not found.")
    return strategy


def provider_strategy_list(*, provider: SignalProvider) -> QuerySet[Strategy]:
    """The provider's strategies with how many trades each has recorded (the admin's record)."""
    return Strategy.objects.filter(owner_id=provider.user_id).annotate(trades_count=Count("trades")).order_by("id")


def provider_trade_list(*, provider: SignalProvider) -> QuerySet[LeaderTrade]:
    """The provider's leader trades, newest first, each with its verification (or none yet)."""
    return (
        LeaderTrade.objects.filter(strategy__owner_id=provider.user_id)
        .select_related("strategy", "verification")
        .order_by("-traded_at", "-id")
    )


def strategy_metrics_by_window(*, strategy_id: int) -> dict[str, StrategyMetrics]:
    """Every stored window of one strategy, equity series included (one query)."""
    return {row.window: row for row in StrategyMetrics.objects.filter(strategy_id=strategy_id)}


def strategy_verification_summary(*, strategy_id: int) -> dict[str, int]:
    """How many of the strategy's trades were checked against exchange candles, by outcome;
    `open_flags`: mismatches no curator has resolved."""
    counts = dict(
        TradeVerification.objects.filter(strategy_id=strategy_id).values_list("status").annotate(count=Count("id")).order_by()
    )
    summary = {status: counts.get(status, 0) for status in TradeVerification.Status.values}
    summary["open_flags"] = TradeVerification.objects.filter(
        strategy_id=strategy_id, status=TradeVerification.Status.MISMATCH, resolved_at__isnull=True
    ).count()
    return summary


# --- The leaderboard of strategies -------------------------------------------------------

# sort key -> (annotation, descending). Smaller drawdown is better, so it sorts ascending.
LEADERBOARD_SORTS = {
    "return": ("total_return", True),
    "sharpe": ("sharpe", True),
    "sortino": ("sortino", True),
    "calmar": ("calmar", True),
    "profit_factor": ("profit_factor", True),
    "max_drawdown": ("max_drawdown", False),
    "followers": ("copiers_count", True),
    "rating": ("rating", True),
}
# The programs of billing (AI strategies, marketplace providers) by strategy kind.
LEADERBOARD_PROGRAMS = {"ai": Strategy.Kind.AI, "marketplace": Strategy.Kind.MANUAL}
LEADERBOARD_LIMIT = 50


@dataclass(frozen=True)
class Leaderboard:
    """`ranked`: leaders with a long enough record, in the chosen order. `new`: shorter
    records, newest first, never ranked. Each strategy carries its window's metrics as
    `total_return`, `sharpe`, `sortino`, `calmar`, `profit_factor` (+ `profit_factor_infinite`),
    `win_rate`, `max_drawdown`, `days` (daily returns counted),
    `closed_trades`, `equity_series` (None/0 before its first metrics run), the whole
    record's `record_days` and `record_closed_trades`, and its provider's `rating` and
    `ratings_count` (None for AI strategies)."""

    ranked: list[Strategy]
    new: list[Strategy]


def strategy_leaderboard(
    *, window: str = DEFAULT_WINDOW, sort: str = "return", program: str | None = None, verified: bool = False
) -> Leaderboard:
    if window not in WINDOWS:
        raise ValueError(f"unknown window {window!r}")
    annotation, descending = LEADERBOARD_SORTS[sort]
    provider = SignalProvider.objects.filter(user_id=OuterRef("owner_id"), status=SignalProvider.Status.APPROVED)
    strategies = _with_window_metrics(strategy_list_listed().select_related("owner__profile"), window=window).annotate(
        equity_series=F("window_metrics__equity_series"),
        rating=Subquery(provider.values("average_rating")[:1], output_field=DecimalField(max_digits=3, decimal_places=2)),
        ratings_count=Subquery(provider.values("ratings_count")[:1], output_field=IntegerField()),
    )
    if program:
        strategies = strategies.filter(kind=LEADERBOARD_PROGRAMS[program])
    if verified:
        strategies = strategies.filter(verified_badge=True)
    order = [F(annotation).desc(nulls_last=True) if descending else F(annotation).asc(nulls_last=True)]
    if sort == "profit_factor":
        # Infinite (profits, no losing trade) is stored as null + a flag: it comes first.
        order.insert(0, F("profit_factor_infinite").desc(nulls_last=True))
    return Leaderboard(
        ranked=list(strategies.filter(ranked=True).order_by(*order, "id")[:LEADERBOARD_LIMIT]),
        new=list(strategies.filter(ranked=False).order_by("-created_at", "-id")[:LEADERBOARD_LIMIT]),
    )


def provider_get_own(*, user) -> SignalProvider | None:
    """The user's own provider profile, whatever its status (the applicant reads it)."""
    return SignalProvider.objects.filter(user=user).first()


def provider_last_decision(*, provider: SignalProvider) -> ProviderEvent | None:
    """The latest status change of the provider (application, curator's decision, automatic
    suspension) with its reason: what the applicant is told."""
    return provider_event_list(provider=provider).filter(field="status").first()


def rating_get_own(*, user, provider: SignalProvider) -> Rating | None:
    return Rating.objects.filter(user=user, provider=provider).first()
