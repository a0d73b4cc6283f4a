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
    FloatField,
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
from django.utils import timezone

from copytrade.models import Copy, LeaderTrade, Strategy
from copytrade.quality import with_copy_quality
from copytrade.selectors import strategy_list_public
from core.errors import NotFoundError
from marketplace.metrics import WINDOWS
from marketplace.models import (
    ProviderEvent,
    ProviderMetrics,
    Rating,
    SignalProvider,
    StrategyCapacity,
    StrategyInvitation,
    StrategyMetrics,
    StrategyRecommendation,
    TradeVerification,
)

DEFAULT_WINDOW = "30d"
# The metric columns the list shows for its window, read from that window's metrics row.
LIST_METRICS = (
    "total_return",
    "sharpe_ratio",
    "sortino_ratio",
    "win_rate",
    "profit_factor",
    "profit_factor_infinite",
    "max_drawdown",
    "calmar_ratio",
    "closed_trades",
    "copied_aum",
    "as_of",
    "returns_count",
    "first_day",
    "last_day",
)
# The leaderboard's one sort vocabulary (the page, /api/copy-trading/top and
# /api/marketplace/traders): key -> (a strategy's annotation, a provider's, descending).
# Smaller drawdown is better, so it sorts ascending. Sorted on anything, records long
# enough to be ranked come first; ties break on id so pages never overlap.
LEADERBOARD_SORTS = {
    "return": ("total_return", "metric_total_return", True),
    "sharpe": ("sharpe", "metric_sharpe_ratio", True),
    "sortino": ("sortino", "metric_sortino_ratio", True),
    "calmar": ("calmar", "metric_calmar_ratio", True),
    "profit_factor": ("profit_factor", "metric_profit_factor", True),
    "win_rate": ("win_rate", "metric_win_rate", True),
    "max_drawdown": ("max_drawdown", "metric_max_drawdown", False),
    "followers": ("copiers_count", "follower_count", True),
    "rating": ("rating", "average_rating", True),
    # Smallest median price gap first, among leaders with enough copies ended (copytrade/quality.py).
    "copies_well": ("copy_quality_rank", "copy_quality_rank", False),
}
# Names the APIs took before the vocabulary was one; still accepted.
LEADERBOARD_SORT_ALIASES = {
    "total_return": "return",
    "sharpe_ratio": "sharpe",
    "sortino_ratio": "sortino",
    "calmar_ratio": "calmar",
    "copiers": "followers",
    "follower_count": "followers",
    "average_rating": "rating",
}
LEADERBOARD_SORT_CHOICES = (*LEADERBOARD_SORTS, *LEADERBOARD_SORT_ALIASES)


def leaderboard_sort_key(sort: str) -> str:
    """The vocabulary's key of a sort the caller gave (a key or an older alias)."""
    return LEADERBOARD_SORT_ALIASES.get(sort, sort)


def _leaderboard_order(annotation: str, *, descending: bool, infinite_flag: str | None) -> list:
    order = [F("ranked").desc(), F(annotation).desc(nulls_last=True) if descending else F(annotation).asc(nulls_last=True)]
    if infinite_flag:
        # An infinite profit factor (profits, no losing trade) is stored as null + a flag: it comes first.
        order.insert(1, F(infinite_flag).desc(nulls_last=True))
    return [*order, "id"]


def _follower_count():
    """Distinct followers with a live copy of any of the provider's strategies."""
    live = (
        Copy.objects.filter(strategy__owner_id=OuterRef("user_id"), status__in=Copy.LIVE_STATUSES)
        .order_by()
        .values("strategy__owner_id")
        .annotate(count=Count("follower_id", distinct=True))
        .values("count")
    )
    return Coalesce(Subquery(live, output_field=IntegerField()), Value(0))


def provider_list_public(
    *,
    window: str = DEFAULT_WINDOW,
    sort_by: str = "return",
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
    sort_by = leaderboard_sort_key(sort_by)
    _, annotation, descending = LEADERBOARD_SORTS[sort_by]
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
    if sort_by == "copies_well":
        providers = with_copy_quality(providers, key="leader_user_id", outer="user_id", now=timezone.now())
    infinite_flag = "metric_profit_factor_infinite" if sort_by == "profit_factor" else None
    return providers.order_by(*_leaderboard_order(annotation, descending=descending, infinite_flag=infinite_flag))


def _provider_profile(providers: QuerySet[SignalProvider]) -> SignalProvider | None:
    return (
        providers.filter(status=SignalProvider.Status.APPROVED, is_public=True)
        .annotate(follower_count=_follower_count())
        .prefetch_related(
            Prefetch("metrics", queryset=ProviderMetrics.objects.order_by("window"), to_attr="window_metrics"),
            Prefetch(
                "ratings",
                queryset=Rating.objects.exclude(comment="")
                .select_related("user__profile")
                .order_by("-updated_at", "-id")[: settings.MARKETPLACE_RECENT_COMMENTS],
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
        TradeVerification.objects.filter(strategy__owner_id=provider.user_id).values_list("status").annotate(count=Count("id")).order_by()
    )
    return {status: counts.get(status, 0) for status in TradeVerification.Status.values}


# --- The leaderboard (/api/copy-trading/top, /leader/{id}) ---------------------------

LEADER_RECENT_TRADES = 20


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


def _long_enough() -> Q:
    """A record long enough to be ranked: `LEADERBOARD_MIN_DAYS` days of returns and
    `LEADERBOARD_MIN_CLOSED_TRADES` closed trades over the whole record."""
    return Q(record_days__gte=settings.LEADERBOARD_MIN_DAYS, record_closed_trades__gte=settings.LEADERBOARD_MIN_CLOSED_TRADES)


def _ratio(name: str, *, output_field=None):
    """A ratio of the window's metrics, null when the window holds fewer daily returns or
    closed trades than a ratio needs to mean anything (Sharpe 14 on two trades is noise)."""
    enough = Q(
        window_metrics__returns_count__gte=settings.RATIOS_MIN_DAILY_RETURNS,
        window_metrics__closed_trades__gte=settings.RATIOS_MIN_CLOSED_TRADES,
    )
    return Case(When(enough, then=F(f"window_metrics__{name}")), default=Value(None), output_field=output_field or FloatField())


def ratios_note(*, days: int, closed_trades: int) -> str | None:
    """Why a window's ratios are blank, in words; None when they are shown."""
    needed_days, needed_trades = settings.RATIOS_MIN_DAILY_RETURNS, settings.RATIOS_MIN_CLOSED_TRADES
    if days >= needed_days and closed_trades >= needed_trades:
        return None
    return (
        f"Ratios (Sharpe, Sortino, Calmar, profit factor) are shown from {needed_days} daily returns and "
        f"{needed_trades} closed trades; this period has {days} and {closed_trades}."
    )


def _with_window_metrics(strategies: QuerySet[Strategy], *, window: str) -> QuerySet[Strategy]:
    """Annotate one window's stored metrics and coverage, and the whole record's length
    (two LEFT JOINs, no query per row)."""
    return strategies.annotate(
        window_metrics=FilteredRelation("marketplace_metrics", condition=Q(marketplace_metrics__window=window)),
        whole_record=FilteredRelation("marketplace_metrics", condition=Q(marketplace_metrics__window="all")),
        total_return=F("window_metrics__total_return"),
        sharpe=_ratio("sharpe_ratio"),
        sortino=_ratio("sortino_ratio"),
        calmar=_ratio("calmar_ratio"),
        profit_factor=_ratio("profit_factor"),
        profit_factor_infinite=_ratio("profit_factor_infinite", output_field=BooleanField()),
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


def strategy_invitation_valid(*, strategy_id: int, token: str) -> bool:
    """Whether `token` is an invitation link to this strategy that its leader has not revoked."""
    return bool(token) and StrategyInvitation.objects.filter(strategy_id=strategy_id, token=token, revoked_at__isnull=True).exists()


def strategy_get_leader(*, user, strategy_id: int, window: str = "30d", invitation: str = "") -> Strategy:
    """A leader page: listed strategies for everyone (strategy_list_listed), any of its owner's
    for its owner, and one not listed for whoever holds a valid invitation link to it."""
    listed = Q(is_public_leader=True) & _curated()
    if strategy_invitation_valid(strategy_id=strategy_id, token=invitation):
        listed = Q(pk=strategy_id)
    strategy = (
        with_copy_quality(
            _with_window_metrics(Strategy.objects.filter(listed | Q(owner_id=getattr(user, "pk", None)), id=strategy_id), window=window),
            key="strategy_id",
            outer="pk",
            now=timezone.now(),
        )
        .select_related("owner__profile", "owner__signal_provider")
        .prefetch_related(
            Prefetch("trades", queryset=LeaderTrade.objects.order_by("-sequence")[:LEADER_RECENT_TRADES], to_attr="recent_trades")
        )
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
    counts = dict(TradeVerification.objects.filter(strategy_id=strategy_id).values_list("status").annotate(count=Count("id")).order_by())
    summary = {status: counts.get(status, 0) for status in TradeVerification.Status.values}
    summary["open_flags"] = TradeVerification.objects.filter(
        strategy_id=strategy_id, status=TradeVerification.Status.MISMATCH, resolved_at__isnull=True
    ).count()
    return summary


# --- The leaderboard of strategies -------------------------------------------------------

# The programs of billing (AI strategies, marketplace providers) by strategy kind.
LEADERBOARD_PROGRAMS = {"ai": Strategy.Kind.AI, "marketplace": Strategy.Kind.MANUAL}
LEADERBOARD_LIMIT = 50


@dataclass(frozen=True)
class Leaderboard:
    """One order, split for the page: `ranked`, leaders with a long enough record, then
    `new`, shorter records, never ranked; together they are what `/api/copy-trading/top`
    lists for the same filters."""

    ranked: list[Strategy]
    new: list[Strategy]


def strategy_leaderboard(
    *,
    window: str = DEFAULT_WINDOW,
    sort: str = "return",
    kind: str | None = None,
    min_copiers: int | None = None,
    verified: bool | None = None,
    copies_well: bool | None = None,
) -> QuerySet[Strategy]:
    """The leaderboard, for the page and `/api/copy-trading/top`: the top public running
    strategies by `sort` (LEADERBOARD_SORTS, or an alias), ranked records first. Each carries
    its window's metrics as `total_return`, `sharpe`, `sortino`, `calmar`, `profit_factor`
    (+ `profit_factor_infinite`), `win_rate`, `max_drawdown` (ratios null below the minimum,
    see `_ratio`), `days`, `closed_trades`, `metrics_as_of`, `equity_series` (None/0 before
    its first metrics run), the whole record's `record_days`, `record_closed_trades` and
    `ranked`, and its provider's `rating` and `ratings_count` (None without a provider).

    `verified`: only strategies with trades checked against the exchange's prices, every
    one of which matched (False: the others). `copies_well`: only strategies whose copies
    followed well over the last 30 days (copytrade/quality.py; False: the others); each
    row carries those figures (`with_copy_quality`)."""
    if window not in WINDOWS:
        raise ValueError(f"unknown window {window!r}")
    sort = leaderboard_sort_key(sort)
    annotation, _, descending = LEADERBOARD_SORTS[sort]
    provider = SignalProvider.objects.filter(user_id=OuterRef("owner_id"), status=SignalProvider.Status.APPROVED)
    strategies = _with_window_metrics(
        strategy_list_listed().select_related("owner__profile", "owner__signal_provider", "capacity"), window=window
    ).annotate(
        equity_series=F("window_metrics__equity_series"),
        rating=Subquery(provider.values("average_rating")[:1], output_field=DecimalField(max_digits=3, decimal_places=2)),
        ratings_count=Subquery(provider.values("ratings_count")[:1], output_field=IntegerField()),
    )
    strategies = with_copy_quality(strategies, key="strategy_id", outer="pk", now=timezone.now())
    if copies_well is not None:
        strategies = strategies.filter(copies_well=copies_well)
    if kind:
        strategies = strategies.filter(kind=kind)
    if min_copiers:
        strategies = strategies.filter(copiers_count__gte=min_copiers)
    if verified is not None:
        checked = TradeVerification.objects.filter(strategy_id=OuterRef("pk"))
        all_match = Exists(checked.filter(status=TradeVerification.Status.VERIFIED)) & ~Exists(
            checked.filter(status=TradeVerification.Status.MISMATCH)
        )
        strategies = strategies.filter(all_match if verified else ~all_match)
    infinite_flag = "profit_factor_infinite" if sort == "profit_factor" else None
    return strategies.order_by(*_leaderboard_order(annotation, descending=descending, infinite_flag=infinite_flag))[:LEADERBOARD_LIMIT]


def leaderboard_split(strategies) -> Leaderboard:
    """The page's two sections of one leaderboard, each in the leaderboard's order."""
    rows = list(strategies)
    return Leaderboard(ranked=[row for row in rows if row.ranked], new=[row for row in rows if not row.ranked])


def provider_get_own(*, user) -> SignalProvider | None:
    """The user's own provider profile, whatever its status (the applicant reads it)."""
    return SignalProvider.objects.filter(user=user).first()


def provider_last_decision(*, provider: SignalProvider) -> ProviderEvent | None:
    """The latest status change of the provider (application, curator's decision, automatic
    suspension) with its reason: what the applicant is told."""
    return provider_event_list(provider=provider).filter(field="status").first()


def rating_get_own(*, user, provider: SignalProvider) -> Rating | None:
    return Rating.objects.filter(user=user, provider=provider).first()


def strategy_capacity(strategy: Strategy) -> StrategyCapacity | None:
    """The leader's limits on new copies, or None (no limit); loaded with the leaderboard."""
    try:
        return strategy.capacity
    except StrategyCapacity.DoesNotExist:
        return None


def strategy_recommended_settings(*, strategy_id: int) -> dict:
    """The copy settings the strategy's leader recommends ({} when none), as stored."""
    return StrategyRecommendation.objects.filter(strategy_id=strategy_id).values_list("settings", flat=True).first() or {}


def strategy_invitation_list(*, owner) -> QuerySet[StrategyInvitation]:
    """The invitation links to the owner's strategies, live ones first, newest first, each
    with `copies_count`: the copies started through it (stopped ones too)."""
    return (
        StrategyInvitation.objects.filter(strategy__owner=owner)
        .annotate(copies_count=Count("copies_started"))
        .order_by(F("revoked_at").desc(nulls_first=True), "-created_at", "-pk")
    )
