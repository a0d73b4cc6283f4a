"""The pages' forms. They check what a person typed; the services decide and write."""

from decimal import Decimal

from allauth.account.forms import LoginForm as AllauthLoginForm
from allauth.account.forms import SignupForm as AllauthSignupForm
from django import forms
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.http import QueryDict

from copytrade.copy_settings import POSITION_LIMITS, SETTINGS
from copytrade.models import Copy
from copytrade.sizing import SIZING_PARAMETER
from core.ids import IdFormField
from core.names import validate_printable_name, validate_single_script_name
from core.profiles import DISPLAY_NAME_MAX_LENGTH, display_name_validate, profile_create
from exchanges.models import ConnectableExchange, MarginMode
from marketplace.metrics import WINDOWS
from marketplace.models import SignalProvider
from marketplace.selectors import LEADERBOARD_PROGRAMS, LEADERBOARD_SORTS

# --- Accounts ------------------------------------------------------------------------------


class SignupForm(AllauthSignupForm):
    """allauth's sign-up (email, password twice) plus the display name others will see."""

    display_name = forms.CharField(
        max_length=DISPLAY_NAME_MAX_LENGTH,
        help_text="Shown to other people instead of your email, on leaderboards and ratings. 3 to 40 characters.",
        widget=forms.TextInput(attrs={"autocomplete": "nickname"}),
    )
    field_order = ["email", "display_name", "password1", "password2"]

    def clean_display_name(self) -> str:
        return display_name_validate(self.cleaned_data["display_name"])

    def try_save(self, request):
        # An address that has an account gets a mail saying so instead of a new account
        # (allauth's enumeration guard); hashing the password anyway makes that answer take
        # as long as creating the account does, whose cost is mostly this hash.
        if self.account_already_exists:
            make_password(self.cleaned_data["password1"])
        return super().try_save(request)

    def save(self, request):
        # The user and their profile together, or neither.
        with transaction.atomic():
            return super().save(request)

    def custom_signup(self, request, user) -> None:
        super().custom_signup(request, user)
        profile_create(user=user, display_name=self.cleaned_data["display_name"])


class LoginForm(AllauthLoginForm):
    """allauth's login, its field named for what people type: the email they signed up with
    (accounts made by an administrator have a username instead)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["login"].label = "Email or username"
        self.fields["login"].widget.attrs["placeholder"] = ""
        self.fields["password"].widget.attrs["placeholder"] = ""


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        label="Token name",
        help_text="What will use it, e.g. “trading bot on my server”. You can revoke it here at any time.",
    )


class NotificationPreferencesForm(forms.Form):
    """In the app and by email, per kind of notification: two checkboxes a row."""

    def __init__(self, *args, preferences: list[tuple[str, str, bool, bool]], **kwargs):
        super().__init__(*args, **kwargs)
        self.kinds = []
        for kind, label, in_app, email in preferences:
            self.fields[f"{kind}-in_app"] = forms.BooleanField(required=False, initial=in_app, label=f"{label}: in the app")
            self.fields[f"{kind}-email"] = forms.BooleanField(required=False, initial=email, label=f"{label}: by email")
            self.kinds.append(kind)

    def rows(self) -> list[tuple[str, forms.BoundField, forms.BoundField]]:
        return [
            (self[f"{kind}-in_app"].label.removesuffix(": in the app"), self[f"{kind}-in_app"], self[f"{kind}-email"])
            for kind in self.kinds
        ]

    def choices(self) -> dict[str, tuple[bool, bool]]:
        return {kind: (self.cleaned_data[f"{kind}-in_app"], self.cleaned_data[f"{kind}-email"]) for kind in self.kinds}


# --- Exchange accounts ---------------------------------------------------------------------

# The exchanges the platform has order rate limits for (settings.EXCHANGE_RATE_LIMITS).
EXCHANGE_CHOICES = ConnectableExchange.choices


def _secret_input(autocomplete: str = "off") -> forms.PasswordInput:
    # render_value=False: a key typed once is never sent back to the browser, not even after an error.
    return forms.PasswordInput(render_value=False, attrs={"autocomplete": autocomplete, "spellcheck": "false"})


class ExchangeAccountForm(forms.Form):
    KIND_EXCHANGE = "exchange"
    KIND_PAPER = "paper"

    kind = forms.ChoiceField(
        label="Account type",
        choices=[
            (KIND_EXCHANGE, "An exchange account (your API key)"),
            (KIND_PAPER, "A paper account: simulated money at live prices"),
        ],
        initial=KIND_EXCHANGE,
        widget=forms.RadioSelect,
    )
    label = forms.CharField(
        max_length=100, validators=[validate_printable_name], help_text="Your name for this account, e.g. “Binance main”."
    )
    exchange_id = forms.ChoiceField(label="Exchange", choices=EXCHANGE_CHOICES, required=False)
    api_key = forms.CharField(label="API key", max_length=512, required=False, strip=False, widget=_secret_input())
    api_secret = forms.CharField(label="API secret", max_length=512, required=False, strip=False, widget=_secret_input())
    api_passphrase = forms.CharField(label="API passphrase (OKX only)", max_length=512, required=False, strip=False, widget=_secret_input())
    starting_balance = forms.DecimalField(
        label="Paper starting balance (USDT)",
        required=False,
        min_value=Decimal("1"),
        max_digits=18,
        decimal_places=2,
        initial=Decimal("10000"),
        help_text="Paper accounts only.",
    )

    def clean(self):
        data = super().clean()
        if data.get("kind") == self.KIND_EXCHANGE:
            if not data.get("exchange_id"):
                self.add_error("exchange_id", "Choose the exchange.")
            if not data.get("api_key"):
                self.add_error("api_key", "Paste the API key from your exchange's API settings.")
            if not data.get("api_secret"):
                self.add_error("api_secret", "Paste the API secret the exchange showed with the key.")
        return data

    def service_arguments(self) -> dict:
        """The keyword arguments of `exchanges.services.exchange_account_create`."""
        data = self.cleaned_data
        if data["kind"] == self.KIND_PAPER:
            balance = data.get("starting_balance") or self.fields["starting_balance"].initial
            return {"exchange_id": "paper", "label": data["label"], "starting_balance": {"USDT": balance}}
        return {
            "exchange_id": data["exchange_id"],
            "label": data["label"],
            "api_key": data["api_key"],
            "api_secret": data["api_secret"],
            "api_passphrase": data["api_passphrase"],
        }


# --- Leaderboard ---------------------------------------------------------------------------

WINDOW_LABELS = {"7d": "7 days", "30d": "30 days", "90d": "90 days", "all": "All time"}
SORT_LABELS = {
    "return": "Return",
    "sharpe": "Sharpe ratio",
    "sortino": "Sortino ratio",
    "calmar": "Calmar ratio",
    "profit_factor": "Profit factor",
    "win_rate": "Win rate",
    "max_drawdown": "Smallest drawdown",
    "followers": "Followers",
    "rating": "Rating",
    "copies_well": "Copies well (smallest price gap)",
}
PROGRAM_LABELS = {"": "All leaders", "ai": "AI strategies", "marketplace": "Marketplace traders"}


class LeaderboardFilterForm(forms.Form):
    window = forms.ChoiceField(label="Period", choices=[(key, WINDOW_LABELS[key]) for key in WINDOWS], required=False)
    sort = forms.ChoiceField(label="Sort by", choices=[(key, SORT_LABELS[key]) for key in LEADERBOARD_SORTS], required=False)
    program = forms.ChoiceField(label="Show", choices=[(key, PROGRAM_LABELS[key]) for key in ("", *LEADERBOARD_PROGRAMS)], required=False)
    verified = forms.BooleanField(label="Verified track record only", required=False)
    copies_well = forms.BooleanField(label="Copies well only (last 30 days)", required=False)

    DEFAULTS = {"window": "30d", "sort": "return", "program": "", "verified": False, "copies_well": False}

    @classmethod
    def with_defaults(cls, query: QueryDict) -> QueryDict:
        """The query with a default for each choice not given, so the form shows what the page lists."""
        data = query.copy()
        for key in ("window", "sort"):
            if not data.get(key):
                data[key] = cls.DEFAULTS[key]
        return data

    def filters(self) -> dict:
        """The selector's arguments; defaults for what was not given."""
        data = {key: self.cleaned_data.get(key) or default for key, default in self.DEFAULTS.items()}
        return {**data, "program": data["program"] or None}

    def leaderboard_arguments(self) -> dict:
        """`strategy_leaderboard`'s arguments: the API's, so the page lists in the API's order."""
        filters = self.filters()
        return {
            "window": filters["window"],
            "sort": filters["sort"],
            "kind": LEADERBOARD_PROGRAMS[filters["program"]] if filters["program"] else None,
            "verified": True if filters["verified"] else None,
            "copies_well": True if filters["copies_well"] else None,
        }


# --- Copying -------------------------------------------------------------------------------

SIZING_CHOICES = [
    (Copy.SizingMode.PROPORTIONAL, "Proportional: a share of your account, trades sized like the leader's"),
    (Copy.SizingMode.MULTIPLIER, "Multiplier: the leader's order size times a factor"),
    (Copy.SizingMode.FIXED, "Fixed: the same amount for every new position"),
]


def _setting_decimal(name: str, **kwargs) -> forms.DecimalField:
    """A copy setting as typed: the form only parses the number; what is allowed is the
    service's to say (`copy_start`, `copy_update`), as for the API, and its errors land beside the field."""
    setting = SETTINGS[name]
    return forms.DecimalField(label=setting.label, help_text=setting.help_text, max_digits=30, decimal_places=12, **kwargs)


def _setting_integer(name: str) -> forms.IntegerField:
    setting = SETTINGS[name]
    return forms.IntegerField(label=setting.label, help_text=setting.help_text, required=False)


SYMBOL_LIST_MODE_CHOICES = [
    (Copy.SymbolListMode.ALL, "Every market the leader trades"),
    (Copy.SymbolListMode.ALLOW, "Only the markets I list"),
    (Copy.SymbolListMode.DENY, "Every market except those I list"),
]


class SymbolListField(forms.CharField):
    """Markets typed as one line, "BTC/USDT, ETH/USDT": a list of what was typed. Whether each
    is a market is the service's to say (it asks the copy's exchange)."""

    def __init__(self, **kwargs):
        super().__init__(
            label=SETTINGS["symbol_list"].label,
            required=False,
            max_length=2000,
            help_text=f"{SETTINGS['symbol_list'].help_text} Separate markets by commas, e.g. BTC/USDT, ETH/USDT.",
            **kwargs,
        )

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value) -> list[str]:
        text = super().to_python(value)
        return [part for part in text.replace(",", " ").split() if part]


def _symbol_list_mode_field() -> forms.ChoiceField:
    return forms.ChoiceField(
        label="Which markets to copy",
        choices=SYMBOL_LIST_MODE_CHOICES,
        required=False,
        initial=Copy.SymbolListMode.ALL,
        widget=forms.RadioSelect,
    )


def _leverage_policy_field(*, required: bool = False) -> forms.ChoiceField:
    setting = SETTINGS["leverage_policy"]
    return forms.ChoiceField(
        label=setting.label,
        choices=Copy.LeveragePolicy.choices,
        initial=Copy.LeveragePolicy.FOLLOW,
        required=required,
        help_text=setting.help_text,
    )


def _leverage_field() -> forms.IntegerField:
    setting = SETTINGS["leverage"]
    return forms.IntegerField(label=setting.label, required=False, min_value=1, max_value=125, help_text=setting.help_text)


def _margin_mode_field(*, required: bool = False) -> forms.ChoiceField:
    setting = SETTINGS["margin_mode"]
    return forms.ChoiceField(
        label=setting.label, choices=MarginMode.choices, initial=MarginMode.CROSS, required=required, help_text=setting.help_text
    )


class _CopyPositionFields(forms.Form):
    """The settings a copy takes at start and changes later alike: which markets, and the
    limits on each position (their words: copytrade.copy_settings.SETTINGS)."""

    symbol_list_mode = _symbol_list_mode_field()
    symbol_list = SymbolListField()
    take_profit_percent = _setting_decimal("take_profit_percent", required=False)
    stop_loss_percent = _setting_decimal("stop_loss_percent", required=False)
    max_open_positions = _setting_integer("max_open_positions")
    max_exposure = _setting_decimal("max_exposure", required=False)


class CopyStartForm(_CopyPositionFields):
    """What `copytrade.services.copies.copy_start` takes, plus the consent to the fee terms the
    page showed (hidden fields: the terms as they were when the page was drawn)."""

    exchange_account = forms.TypedChoiceField(label="Copy onto", coerce=int, empty_value=None)
    sizing_mode = forms.ChoiceField(
        label="How to size the copied trades", choices=SIZING_CHOICES, initial=SIZING_CHOICES[0][0], widget=forms.RadioSelect
    )
    allocation_percent = forms.DecimalField(
        label=SETTINGS["allocation_percent"].label,
        required=False,
        min_value=Decimal("0.01"),
        max_value=Decimal("100"),
        max_digits=6,
        decimal_places=2,
        initial=Decimal("10"),
        widget=forms.NumberInput(attrs={"step": "0.5", "inputmode": "decimal"}),
    )
    multiplier = forms.DecimalField(
        label="Multiplier",
        required=False,
        min_value=Decimal("0.000001"),
        max_digits=12,
        decimal_places=6,
        help_text=f"{SETTINGS['multiplier'].help_text} 0.1 copies each order at a tenth of the leader's size. The copy's P&L and drawdown "
        "are measured against your whole account.",
    )
    fixed_notional = forms.DecimalField(
        label="Amount per new position",
        required=False,
        min_value=Decimal("0.01"),
        max_digits=18,
        decimal_places=2,
        help_text=f"{SETTINGS['fixed_notional'].help_text} Reductions and closes follow the leader's share of the position. P&L and "
        "drawdown are measured against your whole account.",
    )
    max_drawdown_stop = forms.DecimalField(
        label="Copy stop-loss (%)",
        min_value=Decimal("0.01"),
        max_value=Decimal("100"),
        max_digits=5,
        decimal_places=2,
        initial=Decimal("30"),
        help_text=SETTINGS["max_drawdown_stop"].help_text,
    )
    max_slippage_percent = forms.DecimalField(
        label=SETTINGS["max_slippage_percent"].label,
        required=False,
        min_value=Decimal("0"),
        max_value=Decimal("50"),
        max_digits=5,
        decimal_places=2,
        initial=Decimal("1"),
        help_text=SETTINGS["max_slippage_percent"].help_text,
    )
    max_order_notional = forms.DecimalField(
        label=SETTINGS["max_order_notional"].label,
        required=False,
        min_value=Decimal("0.01"),
        max_digits=18,
        decimal_places=2,
        help_text=SETTINGS["max_order_notional"].help_text,
    )
    round_up_to_minimum = forms.BooleanField(
        label=SETTINGS["round_up_to_minimum"].label, required=False, help_text=SETTINGS["round_up_to_minimum"].help_text
    )
    open_positions_at_start = forms.BooleanField(
        label=SETTINGS["open_positions_at_start"].label, required=False, help_text=SETTINGS["open_positions_at_start"].help_text
    )
    leverage_policy = _leverage_policy_field()
    leverage = _leverage_field()
    margin_mode = _margin_mode_field()
    terms_rate_percent = forms.DecimalField(widget=forms.HiddenInput, max_digits=7, decimal_places=4)
    terms_subscription_fee_monthly = forms.DecimalField(widget=forms.HiddenInput, max_digits=18, decimal_places=8)
    consent = forms.BooleanField(
        label="I have read the fees above and agree to pay them on this copy.",
        error_messages={"required": "Tick this box to agree to the fees: a copy starts only with your consent."},
    )

    def __init__(self, *args, accounts, terms, quote_currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["exchange_account"].choices = [(account.pk, self.account_label(account)) for account in accounts]
        self.fields["fixed_notional"].label = f"Amount per new position ({quote_currency})"
        self.fields["max_order_notional"].label = f"Largest order ({quote_currency}, optional)"
        self.initial.setdefault("terms_rate_percent", terms.rate_percent)
        self.initial.setdefault("terms_subscription_fee_monthly", terms.subscription_fee_monthly)

    @staticmethod
    def account_label(account) -> str:
        kind = "paper" if account.is_paper else account.exchange_id.title()
        return f"{account.label} ({kind})"

    def clean(self):
        data = super().clean()
        needed = SIZING_PARAMETER.get(data.get("sizing_mode"))
        if needed and data.get(needed) is None and needed not in self.errors:
            self.add_error(needed, "Enter a value for the sizing you chose.")
        # Not sent (a form drawn before these fields existed): the defaults the page preselects.
        data["leverage_policy"] = data.get("leverage_policy") or Copy.LeveragePolicy.FOLLOW
        data["margin_mode"] = data.get("margin_mode") or MarginMode.CROSS
        follows = data["leverage_policy"] == Copy.LeveragePolicy.FOLLOW
        if not follows and data.get("leverage") is None and "leverage" not in self.errors:
            self.add_error("leverage", "Enter the leverage for the policy you chose.")
        if follows:
            data["leverage"] = None  # following the leader: a number left in the box means nothing
        return data

    def terms_shown(self) -> tuple[Decimal, Decimal]:
        """(performance fee %, subscription a month) as the person read them."""
        return self.cleaned_data["terms_rate_percent"], self.cleaned_data["terms_subscription_fee_monthly"]

    def service_arguments(self) -> dict:
        """The keyword arguments of `copy_start` beside the follower and the strategy: only the
        chosen mode's sizing parameter."""
        data = self.cleaned_data
        mode = data["sizing_mode"]
        return {
            "exchange_account_id": data["exchange_account"],
            "sizing_mode": mode,
            SIZING_PARAMETER[mode]: data[SIZING_PARAMETER[mode]],
            "max_drawdown_stop": data["max_drawdown_stop"],
            # Left empty: the default, as the API's.
            "max_slippage_percent": self.fields["max_slippage_percent"].initial
            if data["max_slippage_percent"] is None
            else data["max_slippage_percent"],
            "max_order_notional": data["max_order_notional"],
            "leverage_policy": data["leverage_policy"],
            "leverage": data["leverage"],
            "margin_mode": data["margin_mode"],
            "round_up_to_minimum": data["round_up_to_minimum"],
            **_symbol_list_arguments(data),
            **{name: data[name] for name in POSITION_LIMITS},
            "open_positions_at_start": data["open_positions_at_start"],
        }


def _symbol_list_arguments(data: dict) -> dict:
    """ "Every market" leaves no list, whatever was typed in the box."""
    mode = data.get("symbol_list_mode") or Copy.SymbolListMode.ALL
    return {"symbol_list_mode": mode, "symbol_list": data["symbol_list"] if mode else []}


SETTINGS_EDITABLE = (
    "max_drawdown_stop",
    "max_slippage_percent",
    "max_order_notional",
    "round_up_to_minimum",
    "symbol_list_mode",
    "symbol_list",
    *POSITION_LIMITS,
    "leverage_policy",
    "leverage",
    "margin_mode",
)


class CopySettingsForm(_CopyPositionFields):
    """A running copy's settings (`copytrade.services.copies.copy_update`): the copy's own
    sizing parameter, its limits. The sizing mode is the copy's for good (a new copy for another)."""

    allocation_percent = _setting_decimal("allocation_percent", widget=forms.NumberInput(attrs={"step": "0.5", "inputmode": "decimal"}))
    multiplier = _setting_decimal("multiplier")
    fixed_notional = _setting_decimal("fixed_notional")
    max_drawdown_stop = _setting_decimal("max_drawdown_stop")
    max_slippage_percent = _setting_decimal("max_slippage_percent")
    max_order_notional = _setting_decimal("max_order_notional", required=False)
    round_up_to_minimum = forms.BooleanField(
        label=SETTINGS["round_up_to_minimum"].label, required=False, help_text=SETTINGS["round_up_to_minimum"].help_text
    )
    leverage_policy = _leverage_policy_field(required=True)
    leverage = _leverage_field()
    margin_mode = _margin_mode_field(required=True)

    SIZING_FIELDS = ("allocation_percent", "multiplier", "fixed_notional")

    def __init__(self, *args, copy: Copy, **kwargs):
        quote = copy.strategy.quote_currency
        initial = {name: getattr(copy, name) for name in (*self.SIZING_FIELDS, *SETTINGS_EDITABLE)}
        super().__init__(*args, initial=initial, **kwargs)
        for name in self.SIZING_FIELDS:
            if name != SIZING_PARAMETER[copy.sizing_mode]:
                del self.fields[name]
        if "fixed_notional" in self.fields:
            self.fields["fixed_notional"].label = f"{SETTINGS['fixed_notional'].label} ({quote})"
        self.fields["max_order_notional"].label = f"Largest order ({quote}, optional)"

    def changes(self) -> dict:
        """`copy_update`'s data: every field of the form (the service skips what is unchanged)."""
        return {**self.cleaned_data, **_symbol_list_arguments(self.cleaned_data)}


class CopyPreviewForm(forms.Form):
    exchange_account = IdFormField()
    allocation_percent = forms.DecimalField(min_value=Decimal("0.01"), max_digits=6, decimal_places=2)


class CopyStopForm(forms.Form):
    close_positions = forms.TypedChoiceField(
        label="What happens to the open positions",
        choices=[
            ("1", "Close them now at market price"),
            ("", "Keep them on my exchange account; I will manage them myself"),
        ],
        coerce=bool,
        empty_value=False,
        initial="1",
        widget=forms.RadioSelect,
        required=False,
    )


# --- Leading ---------------------------------------------------------------------------------


class StrategyCreateForm(forms.Form):
    """`copytrade.services.strategies.strategy_create` for a person: a signal strategy (signals by
    webhook or REST) that declares its capital, or one that trades on a linked account."""

    name = forms.CharField(max_length=100, validators=[validate_printable_name], help_text="What followers see on the leaderboard.")
    description = forms.CharField(
        max_length=5000, required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="How you trade, in a few sentences."
    )
    leader_account = forms.TypedChoiceField(
        label="Trade on",
        coerce=int,
        empty_value=None,
        required=False,
        help_text="Signals are placed on this account first and copied at its fills. Or send signals only, with a declared capital.",
    )
    declared_capital = forms.DecimalField(
        label="Declared capital (USDT, signals only)",
        required=False,
        min_value=Decimal("0.01"),
        max_digits=18,
        decimal_places=2,
        initial=Decimal("10000"),
        help_text="What your signal sizes refer to: a 1,000 USDT trade on 10,000 USDT is 10 % of a follower's copy capital.",
    )
    is_public_leader = forms.BooleanField(label="List it on the leaderboard so others can copy it", required=False, initial=True)

    SIGNALS_ONLY = ""

    def __init__(self, *args, accounts, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["leader_account"].choices = [(self.SIGNALS_ONLY, "No account: signals only")] + [
            (account.pk, CopyStartForm.account_label(account)) for account in accounts
        ]

    def clean(self):
        data = super().clean()
        if data.get("leader_account") is None and data.get("declared_capital") is None and "declared_capital" not in self.errors:
            self.add_error("declared_capital", "A strategy without an account declares the capital its signals size against.")
        return data

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        linked = data["leader_account"] is not None
        return {
            "name": data["name"],
            "description": data["description"],
            "leader_account_id": data["leader_account"],
            "declared_capital": None if linked else data["declared_capital"],
            "is_public_leader": data["is_public_leader"],
        }


class ProviderApplyForm(forms.Form):
    display_name = forms.CharField(
        max_length=100, label="Name on the marketplace", validators=[validate_printable_name, validate_single_script_name]
    )
    description = forms.CharField(max_length=5000, required=False, widget=forms.Textarea(attrs={"rows": 3}), label="About you")
    trading_strategy = forms.CharField(
        max_length=5000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="How you trade",
        help_text="Markets, holding times, how you limit losses. Curators read this with your record.",
    )
    risk_level = forms.ChoiceField(choices=SignalProvider.RiskLevel.choices, initial=SignalProvider.RiskLevel.MEDIUM, label="Risk level")
    performance_fee_percent = forms.DecimalField(
        label="Performance fee (% of new profit above each follower's high-water mark)",
        min_value=Decimal("0"),
        max_value=Decimal("50"),
        max_digits=5,
        decimal_places=2,
        initial=Decimal("15"),
    )
    subscription_fee_monthly = forms.DecimalField(
        label="Subscription (USD a month, charged by the day copied)",
        min_value=Decimal("0"),
        max_digits=18,
        decimal_places=2,
        initial=Decimal("0"),
    )


class RatingForm(forms.Form):
    stars = forms.TypedChoiceField(
        label="Your rating",
        coerce=int,
        choices=[(n, f"{n} star{'s' if n > 1 else ''}") for n in range(5, 0, -1)],
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Comment (optional)",
        help_text="Shown with your display name.",
    )


class CopyDriftPolicyForm(forms.Form):
    drift_policy = forms.ChoiceField(
        label="When your account and this copy's recorded position differ",
        choices=[
            ("notify", "Tell me only"),
            ("resync", "Trade my account back to the copy's position at market"),
            ("adopt", "Take my account's figure as the copy's position"),
        ],
        widget=forms.RadioSelect,
    )


# --- Who can copy a strategy (marketplace capacity, listing, invitations, recommendations) ----


class StrategyCapacityForm(forms.Form):
    """`marketplace.services.strategy_capacity_set`: empty is no limit; the bounds are the service's."""

    min_copy_capital = forms.DecimalField(
        label="Minimum copy capital (optional)",
        required=False,
        max_digits=30,
        decimal_places=12,
        help_text="A new copy whose capital is below this is refused, with the reason. Empty: no minimum.",
    )
    follower_slots = forms.IntegerField(
        label="Follower slots (optional)",
        required=False,
        help_text="How many live copies (running or paused) it takes; once they are all taken, new copies are refused "
        "and the leaderboard says it is full. Empty: no limit.",
    )

    def __init__(self, *args, quote_currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["min_copy_capital"].label = f"Minimum copy capital ({quote_currency}, optional)"


class StrategyListingForm(forms.Form):
    """`copytrade.services.strategies.strategy_update` of `is_public_leader` alone."""

    is_public_leader = forms.TypedChoiceField(
        label="Who finds it",
        choices=[("on", "Listed on the leaderboard: anyone can open and copy it"), ("", "Private: only people with an invitation link")],
        coerce=bool,
        empty_value=False,
        required=False,
        widget=forms.RadioSelect,
    )


class StrategyRecommendationForm(forms.Form):
    """`marketplace.services.strategy_recommendation_set`: the settings of
    `copytrade.copy_settings.RECOMMENDABLE`, in the words of the follower's copy form; empty
    ones are not recommended, all empty withdraws the recommendation."""

    allocation_percent = _setting_decimal("allocation_percent", required=False)
    max_drawdown_stop = _setting_decimal("max_drawdown_stop", required=False)
    max_slippage_percent = _setting_decimal("max_slippage_percent", required=False)
    take_profit_percent = _setting_decimal("take_profit_percent", required=False)
    stop_loss_percent = _setting_decimal("stop_loss_percent", required=False)
    max_open_positions = _setting_integer("max_open_positions")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            # The follower's form names its defaults; a leader leaves a field empty not to recommend it.
            field.help_text = field.help_text.split(" Default:")[0] + " Empty: not recommended."

    def service_arguments(self) -> dict:
        return {"settings": {name: value for name, value in self.cleaned_data.items() if value is not None}}
