"""The pages' forms. They check what a person typed; the services decide and write."""

from decimal import Decimal

from allauth.account.forms import LoginForm as AllauthLoginForm
from allauth.account.forms import SignupForm as AllauthSignupForm
from django import forms
from django.db import transaction
from django.http import QueryDict

from core.profiles import DISPLAY_NAME_MAX_LENGTH, display_name_validate, profile_create
from marketplace.metrics import WINDOWS
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


# --- Exchange accounts ---------------------------------------------------------------------

# The exchanges the platform has order rate limits for (settings.EXCHANGE_RATE_LIMITS).
EXCHANGE_CHOICES = [("binance", "Binance"), ("bybit", "Bybit"), ("okx", "OKX")]


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
    label = forms.CharField(max_length=100, help_text="Your name for this account, e.g. “Binance main”.")
    exchange_id = forms.ChoiceField(label="Exchange", choices=EXCHANGE_CHOICES, required=False)
    api_key = forms.CharField(label="API key", max_length=512, required=False, strip=False, widget=_secret_input())
    api_secret = forms.CharField(label="API secret", max_length=512, required=False, strip=False, widget=_secret_input())
    api_passphrase = forms.CharField(
        label="API passphrase (OKX only)", max_length=512, required=False, strip=False, widget=_secret_input()
    )
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
    "max_drawdown": "Smallest drawdown",
    "followers": "Followers",
    "rating": "Rating",
}
PROGRAM_LABELS = {"": "All leaders", "ai": "AI strategies", "marketplace": "Marketplace traders"}


class LeaderboardFilterForm(forms.Form):
    window = forms.ChoiceField(label="Period", choices=[(key, WINDOW_LABELS[key]) for key in WINDOWS], required=False)
    sort = forms.ChoiceField(label="Sort by", choices=[(key, SORT_LABELS[key]) for key in LEADERBOARD_SORTS], required=False)
    program = forms.ChoiceField(
        label="Show", choices=[(key, PROGRAM_LABELS[key]) for key in ("", *LEADERBOARD_PROGRAMS)], required=False
    )
    verified = forms.BooleanField(label="Verified track record only", required=False)

    DEFAULTS = {"window": "30d", "sort": "return", "program": "", "verified": False}

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
