"""Writes for exchange accounts: connect one (credentials verified first, a key that may
withdraw refused), re-verify one's key (nightly), delete one."""

import logging
import re
import unicodedata
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from core.errors import ApplicationError, ConflictError, NotFoundError
from core.locks import user_row_lock
from core.money import MAX_MONEY, to_decimal
from core.verification import user_email_verified_require
from exchanges.errors import ExchangeError, InvalidCredentialsError, PermanentExchangeError
from exchanges.gateways import gateway_for_account
from exchanges.models import ExchangeAccount
from exchanges.signals import account_delete_requested

logger = logging.getLogger(__name__)

MAX_CREDENTIAL_LENGTH = 512
MAX_STARTING_CURRENCIES = 20
DEFAULT_STARTING_BALANCE = {"USDT": Decimal("10000")}
# Balances are stored with the quantity field's digits; anything larger cannot be stored.
# A paper balance becomes equity and copy capital: money columns, so a money column's bound.
MAX_STARTING_AMOUNT = MAX_MONEY
_CURRENCY = re.compile(r"^[A-Z0-9]{1,20}$")


def exchange_account_create(
    *,
    owner,
    exchange_id: str,
    label: str,
    api_key: str = "",
    api_secret: str = "",
    api_passphrase: str = "",
    sandbox: bool = False,
    starting_balance: dict[str, Decimal] | None = None,
) -> ExchangeAccount:
    """Connect an exchange account, or open a paper account with `starting_balance`.

    A real account is stored only after the exchange accepted its credentials with a
    balance call, made before any transaction opens so no row lock waits on the network.
    """
    user_email_verified_require(user=owner, to="connect an exchange account")
    account = ExchangeAccount(
        owner=owner,
        exchange_id=exchange_id,
        label=label,
        api_key=api_key,
        api_secret=api_secret,
        api_passphrase=api_passphrase,
        sandbox=sandbox,
    )
    if account.is_paper:
        if api_key or api_secret or api_passphrase:
            raise ApplicationError("A paper account takes no API credentials.")
        if sandbox:
            raise ApplicationError("sandbox applies to real exchanges only, not to paper accounts.")
        balances = _validated_starting_balance(DEFAULT_STARTING_BALANCE if starting_balance is None else starting_balance)
    else:
        if starting_balance is not None:
            raise ApplicationError("starting_balance applies to paper accounts only.")
        _validate_credentials(api_key=api_key, api_secret=api_secret, api_passphrase=api_passphrase)
    account.full_clean()  # unknown exchange id, label length, duplicate label: before any network call
    _account_cap_check(owner=owner)  # again under the owner's lock when saving

    if account.is_paper:
        return _paper_account_save(account=account, balances=balances)

    _credentials_verify(account)
    _key_permissions_check(account)
    account.last_verified_at = timezone.now()
    try:
        with transaction.atomic():
            user_row_lock(user_id=owner.pk)
            _account_cap_check(owner=owner)
            account.save()
    except IntegrityError:
        # Two requests raced on the same label: the unique constraint decides.
        raise ApplicationError(f"You already have an exchange account labelled '{label}'.") from None
    logger.info("exchange account %s connected (%s) for user %s", account.pk, account.exchange_id, owner.pk)
    return account


@transaction.atomic
def _paper_account_save(*, account: ExchangeAccount, balances: dict[str, Decimal]) -> ExchangeAccount:
    from exchanges.gateways.paper import paper_account_fund

    user_row_lock(user_id=account.owner_id)
    _account_cap_check(owner=account.owner)
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError:
        raise ApplicationError(f"You already have an exchange account labelled '{account.label}'.") from None
    paper_account_fund(account=account, balances=balances)
    logger.info("paper account %s opened for user %s", account.pk, account.owner_id)
    return account


def _account_cap_check(*, owner) -> None:
    """At most USER_MAX_EXCHANGE_ACCOUNTS per user (checked under the owner's row lock when saving)."""
    limit = settings.USER_MAX_EXCHANGE_ACCOUNTS
    if ExchangeAccount.objects.filter(owner=owner).count() >= limit:
        raise ConflictError(f"You have {limit} exchange accounts, the most one user may have; delete one you no longer use first.")


def _credentials_verify(account: ExchangeAccount, *, ask=lambda gateway: gateway.balance()):
    """Ask the exchange (the balance, unless `ask` says what); map its refusal into a message
    the user can act on."""
    try:
        return ask(gateway_for_account(account))
    except PermanentExchangeError as exc:
        # The error's message is its sentence, never the exchange's own text (which may echo
        # what it was sent).
        raise ApplicationError(f"{exc.message[:1].upper()}{exc.message[1:].rstrip('.')}.", {"reason": exc.reason}) from None
    except ExchangeError as exc:
        raise ApplicationError(
            f"{account.exchange_id} did not answer the credential check; nothing was saved. Try again shortly.",
            {"reason": exc.reason},
            status_code=503,
        ) from None


KEY_CAN_WITHDRAW_MESSAGE = (
    "This API key may withdraw funds, and the platform never needs that: a leaked key could empty the account. "
    "Create a key with trading permission only (withdrawals off) on the exchange, then connect that one."
)


def _key_permissions_check(account: ExchangeAccount) -> None:
    """Where the exchange tells what a key may do: refuse a key that may withdraw; keep whether
    it is limited to the platform's addresses (the pages advise limiting it when it is not)."""
    permissions = _credentials_verify(account, ask=lambda gateway: gateway.key_permissions())
    if permissions is None:
        account.ip_restricted = None
        return
    if permissions.can_withdraw:
        raise ApplicationError(KEY_CAN_WITHDRAW_MESSAGE, {"reason": ExchangeAccount.StatusReason.CAN_WITHDRAW.value})
    account.ip_restricted = permissions.ip_restricted


def exchange_account_key_verify(*, account_id: int) -> str:
    """Ask the exchange again about an active account's key (the nightly check): "" when it
    still trades and cannot withdraw (its IP restriction and verification time updated), else
    the ExchangeAccount.StatusReason it fails with. An exchange that does not answer now says
    nothing about the key: "" and nothing changed."""
    account = ExchangeAccount.objects.filter(id=account_id, status=ExchangeAccount.Status.ACTIVE).first()
    if account is None or account.is_paper:
        return ""
    try:
        gateway = gateway_for_account(account)
        gateway.balance()
        permissions = gateway.key_permissions()
    except InvalidCredentialsError:
        return ExchangeAccount.StatusReason.INVALID_CREDENTIALS
    except ExchangeError as exc:
        logger.warning("exchange account %s: key check not answered (%s)", account_id, exc.reason)
        return ""
    if permissions is not None and permissions.can_withdraw:
        return ExchangeAccount.StatusReason.CAN_WITHDRAW
    ExchangeAccount.objects.filter(id=account_id).update(
        last_verified_at=timezone.now(), ip_restricted=permissions.ip_restricted if permissions is not None else None
    )
    return ""


def _validate_credentials(*, api_key: str, api_secret: str, api_passphrase: str) -> None:
    errors = {}
    for name, value, required in (("api_key", api_key, True), ("api_secret", api_secret, True), ("api_passphrase", api_passphrase, False)):
        if not value:
            if required:
                errors[name] = f"{name} is required for a real exchange account."
            continue
        if len(value) > MAX_CREDENTIAL_LENGTH:
            errors[name] = f"{name} is longer than {MAX_CREDENTIAL_LENGTH} characters."
        elif any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in value):
            errors[name] = f"{name} contains whitespace or control characters; paste it again without them."
    if errors:
        raise ValidationError(errors)


def _validated_starting_balance(balances: dict) -> dict[str, Decimal]:
    if not isinstance(balances, dict) or not balances:
        raise ValidationError({"starting_balance": 'Give at least one currency and amount, e.g. {"USDT": "10000"}.'})
    if len(balances) > MAX_STARTING_CURRENCIES:
        raise ValidationError({"starting_balance": f"At most {MAX_STARTING_CURRENCIES} currencies."})
    validated = {}
    for raw_currency, raw_amount in balances.items():
        currency = str(raw_currency).strip().upper()
        if not _CURRENCY.match(currency):
            raise ValidationError({"starting_balance": f"'{str(raw_currency)[:30]}' is not a currency code (letters and digits)."})
        try:
            amount = to_decimal(raw_amount)
        except (ArithmeticError, TypeError, ValueError):
            raise ValidationError({"starting_balance": f"{currency} amount is not a number."}) from None
        if not amount.is_finite() or amount <= 0:
            raise ValidationError({"starting_balance": f"{currency} amount must be a positive number."})
        if amount > MAX_STARTING_AMOUNT or -amount.as_tuple().exponent > settings.QUANTITY_DECIMAL_PLACES:
            raise ValidationError({"starting_balance": f"{currency} amount has too many digits."})
        validated[currency] = amount
    return validated


@transaction.atomic
def exchange_account_delete(*, owner, account_id: int) -> None:
    # Copies and strategies on an account are started by its owner under the owner's row
    # lock: holding it keeps "not in use" true until the delete commits.
    user_row_lock(user_id=owner.pk)
    account = ExchangeAccount.objects.filter(id=account_id, owner=owner).first()
    if account is None:
        raise NotFoundError("Exchange account not found.")
    # The apps above that use accounts refuse here (ConflictError) while one is in use; the
    # PROTECT foreign keys are the backstop.
    account_delete_requested.send(sender=ExchangeAccount, account=account)
    try:
        account.delete()
    except ProtectedError:
        raise ConflictError("This account is in use; it cannot be deleted.") from None
    logger.info("exchange account %s deleted by user %s", account_id, owner.pk)
