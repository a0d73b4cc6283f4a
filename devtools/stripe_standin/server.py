"""A loopback stand-in for the part of Stripe's REST API that `billing.stripe_gateway` uses.

The real stripe SDK drives it over HTTP, so it speaks Stripe's wire format: form-encoded
parameters with bracketed keys (`metadata[invoice_id]=42`), Bearer secret-key auth, JSON
objects with `id` and `object`, errors shaped `{"error": {"type", "message", "code"}}`,
and Stripe's idempotency rules for POSTs carrying an `Idempotency-Key`.

Endpoints: customers (create, retrieve), invoice items (create), invoices (create,
retrieve, list, finalize, pay, void, delete a draft), transfers (create, retrieve, list).
`expand` is accepted and ignored; unknown parameters are rejected as Stripe does, which
catches typos in ours. The stand-in sends no webhooks: a test that wants one builds and
signs it (client.build_event), and one that wants none has what Stripe does when our
endpoint is down or not subscribed.

Control endpoints under `/_standin/` are unauthenticated: bind the stand-in to loopback.
    POST /_standin/reset     forget every object, key, fault and logged request
    POST /_standin/faults    JSON {count, status, path, method, after_operation, should_retry}
    GET  /_standin/requests  the API request log
    GET  /_standin/objects   every stored object, by kind
    POST /_standin/invoices/<id>/collect    Stripe collects an open invoice (the customer's
                                            card is charged): paid, and no webhook
    POST /_standin/invoices/<id>/uncollectible  Stripe gives up collecting an open invoice
    POST /_standin/transfers/<id>/reverse   JSON {amount} (cents; all by default): the
                                            connected account's money is taken back
"""

import copy
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

logger = logging.getLogger(__name__)

# Test-mode keys only: a live key pointed at the stand-in is a misconfiguration.
API_KEY_PREFIX = "sk_test_"
DEFAULT_CURRENCY = "usd"
CONTROL_PREFIX = "/_standin/"
MAX_LIST_LIMIT = 100


class StripeApiError(Exception):
    """An answer in Stripe's error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": error_type, "message": message, "code": code, "param": param}}


@dataclass
class Fault:
    """The next `remaining` matching API requests answer `status` instead of (or after) running.

    An injected fault stands for a failure between Stripe and us (a proxy, a dropped
    connection), so it is never saved as an idempotent result: with `after_operation`
    the operation is stored and only its answer is lost, which is exactly what a retry
    with the same idempotency key must recover from.
    """

    remaining: int
    status: int
    path: re.Pattern | None
    method: str | None
    after_operation: bool
    should_retry: bool | None

    def matches(self, *, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and (self.method is None or self.method == method)
            and (self.path is None or self.path.fullmatch(path) is not None)
        )

    def answer(self) -> tuple[int, dict, dict[str, str]]:
        error = StripeApiError(
            self.status,
            "Injected by the Stripe stand-in.",
            error_type="api_error" if self.status >= 500 else "invalid_request_error",
            code={409: "lock_timeout", 429: "rate_limit"}.get(self.status),
        )
        headers = {} if self.should_retry is None else {"Stripe-Should-Retry": str(self.should_retry).lower()}
        return self.status, error.body, headers


@dataclass(frozen=True)
class _IdempotentResult:
    method: str
    path: str
    params: dict
    body: dict


_KEY_SEGMENTS = re.compile(r"[^\[\]]+")


def decode_form(form: str) -> dict:
    """Stripe's bracketed form encoding into nested dicts, indexed keys (`expand[0]`) into lists."""
    root: dict = {}
    for key, value in parse_qsl(form, keep_blank_values=True):
        segments = _KEY_SEGMENTS.findall(key)
        if not segments:
            raise StripeApiError(400, f"Invalid parameter name: {key!r}", param=key)
        node = root
        for segment in segments[:-1]:
            node = node.setdefault(segment, {})
            if not isinstance(node, dict):
                raise StripeApiError(400, f"Invalid parameter: {key} mixes a value and an object", param=key)
        node[segments[-1]] = value
    return {name: _indexed_to_lists(value) for name, value in root.items()}


def _indexed_to_lists(node):
    if not isinstance(node, dict):
        return node
    children = {key: _indexed_to_lists(value) for key, value in node.items()}
    if children and all(key.isdigit() for key in children):
        return [children[key] for key in sorted(children, key=int)]
    return children


def _reject_unknown(params: dict, allowed: set[str]) -> None:
    for name in params:
        if name not in allowed and name != "expand":
            raise StripeApiError(400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name)


def _required(params: dict, name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise StripeApiError(400, f"Missing required param: {name}.", code="parameter_missing", param=name)
    if not isinstance(value, str):
        raise StripeApiError(400, f"Invalid string: {name}", param=name)
    return value


def _integer(params: dict, name: str) -> int:
    raw = _required(params, name)
    if not re.fullmatch(r"-?\d+", raw):
        raise StripeApiError(400, f"Invalid integer: {raw}", code="parameter_invalid_integer", param=name)
    return int(raw)


def _boolean(params: dict, name: str, *, default: bool) -> bool:
    raw = params.get(name)
    if raw is None:
        return default
    if raw not in ("true", "false"):
        raise StripeApiError(400, f"Invalid boolean: {raw}", param=name)
    return raw == "true"


def _currency(params: dict, *, default: str | None = None) -> str:
    raw = params.get("currency") or default
    if raw is None:
        return _required(params, "currency")
    if not isinstance(raw, str) or not re.fullmatch(r"[A-Za-z]{3}", raw):
        raise StripeApiError(400, f"Invalid currency: {raw}", param="currency")
    return raw.lower()


def _metadata(params: dict) -> dict:
    raw = params.get("metadata", {})
    if raw == "":
        return {}
    if not isinstance(raw, dict):
        raise StripeApiError(400, "Invalid object", param="metadata")
    # Stripe treats an empty value as "unset this key".
    return {key: value for key, value in raw.items() if value != ""}


def _optional_string(params: dict, name: str) -> str | None:
    return params.get(name) or None


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _bearer_key(authorization: str | None) -> str:
    scheme, _, key = (authorization or "").partition(" ")
    if scheme != "Bearer" or not key:
        raise StripeApiError(401, "You did not provide an API key. Provide it in the Authorization header as a Bearer token.")
    if not key.startswith(API_KEY_PREFIX):
        raise StripeApiError(401, f"Invalid API Key provided: {key[:8]}****")
    return key


class StripeStandin:
    """The stand-in's state and request handling.

    One lock serialises every request: it is a test tool, not a load target, and it
    makes two concurrent requests with one idempotency key behave as a replay.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._clear()

    def _clear(self) -> None:
        self.customers: dict[str, dict] = {}
        self.invoices: dict[str, dict] = {}
        self.invoice_items: dict[str, dict] = {}
        self.transfers: dict[str, dict] = {}
        self._idempotent_results: dict[tuple[str, str], _IdempotentResult] = {}
        self._faults: list[Fault] = []
        self._request_log: list[dict] = []
        self._invoice_count = 0

    def reset(self) -> None:
        with self._lock:
            self._clear()

    def add_fault(
        self,
        *,
        count: int = 1,
        status: int = 500,
        path: str | None = None,
        method: str | None = None,
        after_operation: bool = False,
        should_retry: bool | None = None,
    ) -> None:
        fault = Fault(
            remaining=count,
            status=status,
            path=re.compile(path) if path else None,
            method=method.upper() if method else None,
            after_operation=after_operation,
            should_retry=should_retry,
        )
        with self._lock:
            self._faults.append(fault)

    def request_log(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(self._request_log)

    def objects(self) -> dict[str, list[dict]]:
        with self._lock:
            return copy.deepcopy(
                {
                    "customers": list(self.customers.values()),
                    "invoices": list(self.invoices.values()),
                    "invoiceitems": list(self.invoice_items.values()),
                    "transfers": list(self.transfers.values()),
                }
            )

    def handle(
        self, *, method: str, path: str, form: str, authorization: str | None, idempotency_key: str | None
    ) -> tuple[int, dict, dict[str, str]]:
        """Answer one API request: (status, JSON body, extra response headers)."""
        with self._lock:
            fault = next((f for f in self._faults if f.matches(method=method, path=path)), None)
            params = None
            replayed = False
            headers: dict[str, str] = {}
            try:
                params = decode_form(form)
                if fault is None or fault.after_operation:
                    body, replayed = self._run_idempotently(
                        api_key=_bearer_key(authorization),
                        method=method,
                        path=path,
                        params=params,
                        idempotency_key=idempotency_key,
                    )
                    status = 200
            except StripeApiError as error:
                status, body = error.status, error.body
            if fault is not None:
                fault.remaining -= 1
                status, body, headers = fault.answer()
            elif replayed:
                headers["Idempotent-Replayed"] = "true"
            if idempotency_key:
                headers["Idempotency-Key"] = idempotency_key
            self._request_log.append(
                {
                    "method": method,
                    "path": path,
                    "params": copy.deepcopy(params),
                    "idempotency_key": idempotency_key,
                    "status": status,
                    "replayed": replayed,
                }
            )
            return status, body, headers

    def _run_idempotently(self, *, api_key: str, method: str, path: str, params: dict, idempotency_key: str | None) -> tuple[dict, bool]:
        """(body, replayed). Keys are scoped to the API key, as Stripe scopes them to the account."""
        if method != "POST" or not idempotency_key:
            return copy.deepcopy(self._route(method=method, path=path, params=params)), False
        stored = self._idempotent_results.get((api_key, idempotency_key))
        if stored is not None:
            if (stored.method, stored.path, stored.params) != (method, path, params):
                raise StripeApiError(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters they were first "
                    f"used with. Try using a key other than '{idempotency_key}' if you meant to execute a "
                    "different request.",
                    error_type="idempotency_error",
                )
            return stored.body, True
        # Only successes are saved: Stripe saves no result for a request that failed
        # validation, so fixing the parameters and retrying with the same key works.
        body = copy.deepcopy(self._route(method=method, path=path, params=params))
        self._idempotent_results[(api_key, idempotency_key)] = _IdempotentResult(
            method=method, path=path, params=copy.deepcopy(params), body=body
        )
        return body, False

    def _route(self, *, method: str, path: str, params: dict) -> dict:
        for route_method, pattern, handler_name in _ROUTES:
            match = pattern.fullmatch(path)
            if match is not None and route_method == method:
                return getattr(self, handler_name)(params, **match.groupdict())
        raise StripeApiError(404, f"Unrecognized request URL ({method}: {path}).")

    # --- lookups ---------------------------------------------------------------------

    def _find(self, store: dict[str, dict], kind: str, object_id: str, *, param: str | None = None) -> dict:
        found = store.get(object_id)
        if found is None:
            # Stripe answers 404 for an id in the path, 400 for an id given as a parameter.
            raise StripeApiError(
                404 if param is None else 400, f"No such {kind}: '{object_id}'", code="resource_missing", param=param or "id"
            )
        return found

    # --- customers -------------------------------------------------------------------

    def _create_customer(self, params: dict) -> dict:
        _reject_unknown(params, {"email", "name", "description", "metadata"})
        customer = {
            "id": _new_id("cus"),
            "object": "customer",
            "created": int(time.time()),
            "email": _optional_string(params, "email"),
            "name": _optional_string(params, "name"),
            "description": _optional_string(params, "description"),
            "metadata": _metadata(params),
            "balance": 0,
            "currency": None,
            "livemode": False,
        }
        self.customers[customer["id"]] = customer
        return customer

    def _retrieve_customer(self, params: dict, *, object_id: str) -> dict:
        _reject_unknown(params, set())
        return self._find(self.customers, "customer", object_id)

    # --- invoice items ---------------------------------------------------------------

    def _create_invoice_item(self, params: dict) -> dict:
        _reject_unknown(params, {"customer", "amount", "currency", "description", "invoice", "metadata"})
        customer = self._find(self.customers, "customer", _required(params, "customer"), param="customer")
        amount = _integer(params, "amount")
        currency = _currency(params)
        invoice = None
        if params.get("invoice"):
            invoice = self._find(self.invoices, "invoice", params["invoice"], param="invoice")
            if invoice["customer"] != customer["id"]:
                raise StripeApiError(400, f"The invoice {invoice['id']} belongs to another customer.", param="invoice")
            if invoice["status"] != "draft":
                raise StripeApiError(
                    400,
                    f"You can only add invoice items to draft invoices; {invoice['id']} is {invoice['status']}.",
                    code="invoice_already_finalized",
                    param="invoice",
                )
            if invoice["currency"] != currency:
                raise StripeApiError(
                    400,
                    f"The currency of the invoice item ({currency}) must match the currency of the invoice ({invoice['currency']}).",
                    param="currency",
                )
        item = {
            "id": _new_id("ii"),
            "object": "invoiceitem",
            "amount": amount,
            "currency": currency,
            "customer": customer["id"],
            "date": int(time.time()),
            "description": _optional_string(params, "description"),
            "invoice": None,
            "metadata": _metadata(params),
            "livemode": False,
        }
        self.invoice_items[item["id"]] = item
        if invoice is not None:
            self._attach_item(invoice, item)
        return item

    def _attach_item(self, invoice: dict, item: dict) -> None:
        item["invoice"] = invoice["id"]
        lines = invoice["lines"]
        lines["data"].append(
            {
                "id": _new_id("il"),
                "object": "line_item",
                "amount": item["amount"],
                "currency": item["currency"],
                "description": item["description"],
                "invoice": invoice["id"],
                "metadata": dict(item["metadata"]),
                "parent": {"type": "invoice_item_details", "invoice_item_details": {"invoice_item": item["id"]}},
            }
        )
        lines["total_count"] = len(lines["data"])
        total = sum(line["amount"] for line in lines["data"])
        invoice.update(subtotal=total, total=total, amount_due=total, amount_remaining=total)

    # --- invoices --------------------------------------------------------------------

    def _create_invoice(self, params: dict) -> dict:
        _reject_unknown(
            params,
            {
                "customer",
                "auto_advance",
                "collection_method",
                "currency",
                "days_until_due",
                "description",
                "metadata",
                "pending_invoice_items_behavior",
            },
        )
        customer = self._find(self.customers, "customer", _required(params, "customer"), param="customer")
        collection_method = params.get("collection_method", "charge_automatically")
        if collection_method not in ("charge_automatically", "send_invoice"):
            raise StripeApiError(400, f"Invalid collection_method: {collection_method}", param="collection_method")
        days_until_due = None
        if collection_method == "send_invoice":
            days_until_due = _integer(params, "days_until_due")
        pending_behavior = params.get("pending_invoice_items_behavior", "exclude")
        if pending_behavior not in ("exclude", "include"):
            raise StripeApiError(400, f"Invalid pending_invoice_items_behavior: {pending_behavior}", param="pending_invoice_items_behavior")
        invoice_id = _new_id("in")
        invoice = {
            "id": invoice_id,
            "object": "invoice",
            "customer": customer["id"],
            "status": "draft",
            "auto_advance": _boolean(params, "auto_advance", default=False),
            "collection_method": collection_method,
            "days_until_due": days_until_due,
            "currency": _currency(params, default=DEFAULT_CURRENCY),
            "description": _optional_string(params, "description"),
            "metadata": _metadata(params),
            "number": None,
            "created": int(time.time()),
            "subtotal": 0,
            "total": 0,
            "amount_due": 0,
            "amount_paid": 0,
            "amount_remaining": 0,
            "lines": {"object": "list", "data": [], "has_more": False, "total_count": 0, "url": f"/v1/invoices/{invoice_id}/lines"},
            "status_transitions": {"finalized_at": None, "paid_at": None, "voided_at": None, "marked_uncollectible_at": None},
            "livemode": False,
        }
        self.invoices[invoice_id] = invoice
        if pending_behavior == "include":
            for item in self.invoice_items.values():
                if item["customer"] == customer["id"] and item["invoice"] is None and item["currency"] == invoice["currency"]:
                    self._attach_item(invoice, item)
        return invoice

    def _retrieve_invoice(self, params: dict, *, object_id: str) -> dict:
        _reject_unknown(params, set())
        return self._find(self.invoices, "invoice", object_id)

    def _list_invoices(self, params: dict) -> dict:
        _reject_unknown(params, {"customer", "status", "limit", "starting_after"})
        # Newest first, as Stripe lists.
        matching = [
            invoice
            for invoice in reversed(self.invoices.values())
            if params.get("customer") in (None, invoice["customer"]) and params.get("status") in (None, invoice["status"])
        ]
        return self._page(matching, params, kind="invoice", url="/v1/invoices")

    def _finalize_invoice(self, params: dict, *, object_id: str) -> dict:
        _reject_unknown(params, {"auto_advance"})
        invoice = self._find(self.invoices, "invoice", object_id)
        if invoice["status"] != "draft":
            raise StripeApiError(
                400,
                "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
                code="invoice_already_finalized",
            )
        now = int(time.time())
        self._invoice_count += 1
        invoice["number"] = f"STANDIN-{self._invoice_count:04d}"
        invoice["auto_advance"] = _boolean(params, "auto_advance", default=invoice["auto_advance"])
        invoice["status_transitions"]["finalized_at"] = now
        invoice["status"] = "open"
        # Stripe marks an invoice with nothing due paid as it finalizes.
        if invoice["amount_due"] == 0:
            invoice["status"] = "paid"
            invoice["status_transitions"]["paid_at"] = now
        return invoice

    def _pay_invoice(self, params: dict, *, object_id: str) -> dict:
        _reject_unknown(params, {"paid_out_of_band"})
        invoice = self._find(self.invoices, "invoice", object_id)
        if invoice["status"] not in ("open", "uncollectible"):
            raise StripeApiError(400, f"You can only pay an open invoice; {invoice['id']} is {invoice['status']}.")
        invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0)
        invoice["status_transitions"]["paid_at"] = int(time.time())
        return invoice

    def _void_invoice(self, params: dict, *, object_id: str) -> dict:
        _reject_unknown(params, set())
        invoice = self._find(self.invoices, "invoice", object_id)
        if invoice["status"] not in ("open", "uncollectible"):
            raise StripeApiError(400, f"You can only void an open invoice; {invoice['id']} is {invoice['status']}.")
        invoice["status"] = "void"
        invoice["status_transitions"]["voided_at"] = int(time.time())
        return invoice

    def _delete_invoice(self, params: dict, *, object_id: str) -> dict:
        _reject_unknown(params, set())
        invoice = self._find(self.invoices, "invoice", object_id)
        if invoice["status"] != "draft":
            raise StripeApiError(400, f"You can only delete draft invoices; {invoice['id']} is {invoice['status']}.")
        del self.invoices[object_id]
        for item in self.invoice_items.values():
            if item["invoice"] == object_id:
                item["invoice"] = None
        return {"id": object_id, "object": "invoice", "deleted": True}

    def collect_invoice(self, object_id: str) -> dict:
        """Stripe's automatic collection succeeding on an open invoice (control endpoint)."""
        with self._lock:
            return copy.deepcopy(self._pay_invoice({}, object_id=object_id))

    def mark_invoice_uncollectible(self, object_id: str) -> dict:
        with self._lock:
            invoice = self._find(self.invoices, "invoice", object_id)
            if invoice["status"] != "open":
                raise StripeApiError(400, f"Only an open invoice can be marked uncollectible; {object_id} is {invoice['status']}.")
            invoice["status"] = "uncollectible"
            invoice["status_transitions"]["marked_uncollectible_at"] = int(time.time())
            return copy.deepcopy(invoice)

    def reverse_transfer(self, object_id: str, *, amount: int | None = None) -> dict:
        """A reversal of (part of) a transfer, as the transfer then shows it (control endpoint)."""
        with self._lock:
            transfer = self._find(self.transfers, "transfer", object_id)
            left = transfer["amount"] - transfer["amount_reversed"]
            amount = left if amount is None else amount
            if not 0 < amount <= left:
                raise StripeApiError(400, f"The reversal must be 1 to {left} cents.", param="amount")
            transfer["amount_reversed"] += amount
            transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
            transfer["reversals"]["data"].append(
                {"id": _new_id("trr"), "object": "transfer_reversal", "amount": amount, "transfer": object_id, "created": int(time.time())}
            )
            transfer["reversals"]["total_count"] = len(transfer["reversals"]["data"])
            return copy.deepcopy(transfer)

    # --- transfers -------------------------------------------------------------------

    def _create_transfer(self, params: dict) -> dict:
        _reject_unknown(params, {"amount", "currency", "destination", "description", "metadata", "transfer_group"})
        amount = _integer(params, "amount")
        if amount < 1:
            raise StripeApiError(400, "This value must be greater than or equal to 1.", param="amount")
        currency = _currency(params)
        destination = _required(params, "destination")
        # Any Connect account id is taken to exist: the stand-in keeps no accounts.
        if not destination.startswith("acct_"):
            raise StripeApiError(400, f"No such destination: '{destination}'", code="resource_missing", param="destination")
        transfer = {
            "id": _new_id("tr"),
            "object": "transfer",
            "amount": amount,
            "amount_reversed": 0,
            "currency": currency,
            "destination": destination,
            "description": _optional_string(params, "description"),
            "metadata": _metadata(params),
            "transfer_group": _optional_string(params, "transfer_group"),
            "reversed": False,
            "reversals": {"object": "list", "data": [], "has_more": False, "total_count": 0, "url": "/v1/transfers/reversals"},
            "created": int(time.time()),
            "livemode": False,
        }
        self.transfers[transfer["id"]] = transfer
        return transfer

    def _retrieve_transfer(self, params: dict, *, object_id: str) -> dict:
        _reject_unknown(params, set())
        return self._find(self.transfers, "transfer", object_id)

    def _list_transfers(self, params: dict) -> dict:
        _reject_unknown(params, {"destination", "transfer_group", "limit", "starting_after"})
        matching = [
            transfer
            for transfer in reversed(self.transfers.values())
            if params.get("destination") in (None, transfer["destination"])
            and params.get("transfer_group") in (None, transfer["transfer_group"])
        ]
        return self._page(matching, params, kind="transfer", url="/v1/transfers")

    def _page(self, matching: list[dict], params: dict, *, kind: str, url: str) -> dict:
        """One page of a list, newest first, as Stripe pages: `limit`, then `starting_after` an id."""
        limit = _integer(params, "limit") if "limit" in params else 10
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise StripeApiError(400, f"Invalid limit: must be between 1 and {MAX_LIST_LIMIT}", param="limit")
        if params.get("starting_after"):
            ids = [found["id"] for found in matching]
            if params["starting_after"] not in ids:
                raise StripeApiError(400, f"No such {kind}: '{params['starting_after']}'", code="resource_missing", param="starting_after")
            matching = matching[ids.index(params["starting_after"]) + 1 :]
        return {"object": "list", "data": matching[:limit], "has_more": len(matching) > limit, "url": url}


_ID = r"(?P<object_id>[A-Za-z0-9_]+)"
_ROUTES = [
    ("POST", re.compile(r"/v1/customers"), "_create_customer"),
    ("GET", re.compile(rf"/v1/customers/{_ID}"), "_retrieve_customer"),
    ("POST", re.compile(r"/v1/invoiceitems"), "_create_invoice_item"),
    ("POST", re.compile(r"/v1/invoices"), "_create_invoice"),
    ("GET", re.compile(r"/v1/invoices"), "_list_invoices"),
    ("GET", re.compile(rf"/v1/invoices/{_ID}"), "_retrieve_invoice"),
    ("POST", re.compile(rf"/v1/invoices/{_ID}/finalize"), "_finalize_invoice"),
    ("POST", re.compile(rf"/v1/invoices/{_ID}/pay"), "_pay_invoice"),
    ("POST", re.compile(rf"/v1/invoices/{_ID}/void"), "_void_invoice"),
    ("DELETE", re.compile(rf"/v1/invoices/{_ID}"), "_delete_invoice"),
    ("POST", re.compile(r"/v1/transfers"), "_create_transfer"),
    ("GET", re.compile(r"/v1/transfers"), "_list_transfers"),
    ("GET", re.compile(rf"/v1/transfers/{_ID}"), "_retrieve_transfer"),
]
_CONTROL_ON_OBJECT = re.compile(r"(?P<kind>invoices|transfers)/(?P<object_id>[A-Za-z0-9_]+)/(?P<action>[a-z_]+)")

_FAULT_FIELDS = {"count", "status", "path", "method", "after_operation", "should_retry"}


class _Handler(BaseHTTPRequestHandler):
    server: "StandinServer"

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", errors="replace")
        if url.path.startswith(CONTROL_PREFIX):
            status, payload = self._control(url.path.removeprefix(CONTROL_PREFIX), body)
            self._send(status, payload, {})
            return
        status, payload, headers = self.server.standin.handle(
            method=self.command,
            path=url.path,
            form=body if self.command == "POST" else url.query,
            authorization=self.headers.get("Authorization"),
            idempotency_key=self.headers.get("Idempotency-Key"),
        )
        self._send(status, payload, headers)

    def _control(self, action: str, body: str) -> tuple[int, dict]:
        standin = self.server.standin
        if (self.command, action) == ("POST", "reset"):
            standin.reset()
            return 200, {"reset": True}
        if (self.command, action) == ("POST", "faults"):
            try:
                fields = json.loads(body or "{}")
                unknown = set(fields) - _FAULT_FIELDS
                if unknown:
                    raise ValueError(f"unknown fault fields {sorted(unknown)}")
                standin.add_fault(**fields)
            except (ValueError, TypeError, re.error) as error:
                return 400, {"error": {"type": "invalid_request_error", "message": str(error), "code": None}}
            return 200, {"added": fields}
        if (self.command, action) == ("GET", "requests"):
            return 200, {"data": standin.request_log()}
        if (self.command, action) == ("GET", "objects"):
            return 200, standin.objects()
        on_object = _CONTROL_ON_OBJECT.fullmatch(action)
        if self.command == "POST" and on_object is not None:
            return self._control_on_object(**on_object.groupdict(), body=body)
        return 404, {"error": {"type": "invalid_request_error", "message": f"No control endpoint {action}", "code": None}}

    def _control_on_object(self, *, kind: str, object_id: str, action: str, body: str) -> tuple[int, dict]:
        standin = self.server.standin
        try:
            if (kind, action) == ("invoices", "collect"):
                return 200, standin.collect_invoice(object_id)
            if (kind, action) == ("invoices", "uncollectible"):
                return 200, standin.mark_invoice_uncollectible(object_id)
            if (kind, action) == ("transfers", "reverse"):
                amount = json.loads(body or "{}").get("amount")
                return 200, standin.reverse_transfer(object_id, amount=amount)
        except StripeApiError as error:
            return error.status, error.body
        return 404, {"error": {"type": "invalid_request_error", "message": f"No control {kind}/{action}", "code": None}}

    def _send(self, status: int, payload: dict, headers: dict[str, str]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", _new_id("req"))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:
        logger.debug("stripe stand-in: " + format, *args)


class StandinServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *, host: str, port: int):
        super().__init__((host, port), _Handler)
        self.standin = StripeStandin()

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


def make_standin_server(*, host: str = "127.0.0.1", port: int = 0) -> StandinServer:
    """A bound, listening server (port 0: any free port); call `serve_forever()` to answer."""
    return StandinServer(host=host, port=port)


def start_standin_thread(*, port: int = 0) -> tuple[str, Callable[[], None]]:
    """Serve a fresh stand-in on loopback from a daemon thread: (base_url, stop)."""
    server = make_standin_server(port=port)
    thread = threading.Thread(target=server.serve_forever, name="stripe-standin", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join()

    return server.base_url, stop
