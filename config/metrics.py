"""`/metrics`: what core/metrics.py counts, plus figures read at scrape time (issue 30).

- Every process that runs code exports what it counted: the web at `/metrics` (a Django
  view, not part of the API or its schema), each Celery worker on its own port
  (CELERY_METRICS_PORT, `worker_metrics_serve`). With PROMETHEUS_MULTIPROC_DIR set, the
  figures of every process writing to that folder are added up (gunicorn's workers,
  Celery's prefork children): give each `make run` process its own folder (Procfile).
- The web's `/metrics` also reads, at scrape time, what no single process counts: the
  broker's queue depths, the oldest waiting message's age (from the rows the sweeper
  watches: a copied trade enqueued and not picked up, a leader trade not fanned out),
  the month's billing progress and the payouts not yet paid. Workers do not repeat them.
- Closed to the public: a request passes with `Authorization: Bearer <METRICS_TOKEN>`, or
  from an address in METRICS_ALLOWED_NETWORKS (CIDRs; behind proxies as NUM_PROXIES
  says); anything else is a 404, as if there were nothing here.
"""

import hmac
import ipaddress
import json
import logging
import os
import threading
import time
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.conf import settings
from django.db.models import Count, Min, Sum
from django.db.models.functions import Coalesce
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

from core import metrics
from core.throttling import client_ip

logger = logging.getLogger(__name__)

QUEUES = ("execution", "fanout")
PENDING_PAYOUT_STATUSES = ("pending", "ready", "awaiting_manual", "failed")
# The webhooks whose latency and outcomes are measured, by URL name.
WEBHOOKS = {"webhook": "signal", "billing-stripe-webhook": "stripe"}
# What anyone else gets: the answer of a URL that does not exist (the API's error shape).
NOT_FOUND = {"message": "Not found.", "extra": {}}


def allowed(*, authorization: str, address: str) -> bool:
    token = settings.METRICS_TOKEN
    if token and hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode()):
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network, strict=False) for network in settings.METRICS_ALLOWED_NETWORKS)


def exposition(*, scrape_time: bool) -> bytes:
    """This process's figures (all processes' with PROMETHEUS_MULTIPROC_DIR), and with
    `scrape_time` the figures read from the database and the broker now."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        counted = generate_latest(registry)
    else:
        counted = generate_latest(REGISTRY)
    if not scrape_time:
        return counted
    now_registry = CollectorRegistry()
    now_registry.register(ScrapeTimeCollector())
    return counted + generate_latest(now_registry)


def metrics_view(request):
    if not allowed(authorization=request.headers.get("Authorization", ""), address=client_ip(request)):
        return JsonResponse(NOT_FOUND, status=404)
    return HttpResponse(exposition(scrape_time=True), content_type=CONTENT_TYPE_LATEST)


class ScrapeTimeCollector:
    """Figures read when Prometheus asks (a few indexed queries and one question to the broker per queue)."""

    def collect(self):
        yield from self._queues()
        yield from self._billing()
        yield from self._payouts()

    def _queues(self):
        from copytrade.models import CopiedTrade, LeaderTrade
        from copytrade.services.fanout import queue_length

        depth = GaugeMetricFamily(
            "copytrade_queue_messages", "Messages waiting in the broker's queue (not yet delivered to a worker).", labels=["queue"]
        )
        for queue in QUEUES:
            length = queue_length(queue)
            if length is not None:
                depth.add_metric([queue], length)
        yield depth
        now = timezone.now()
        # The rows the sweeper watches: enqueued and not picked up (no lease), not fanned out.
        oldest_copy = CopiedTrade.objects.filter(status=CopiedTrade.Status.PENDING, lease_expires_at__isnull=True).aggregate(
            oldest=Min(Coalesce("enqueued_at", "recorded_at"))
        )["oldest"]
        oldest_fan_out = LeaderTrade.objects.filter(fanout_done_at__isnull=True).aggregate(oldest=Min("recorded_at"))["oldest"]
        age = GaugeMetricFamily(
            "copytrade_queue_oldest_age_seconds",
            "Age of the oldest work waiting for a worker (execution: a copied trade enqueued and not picked up; fanout: a leader trade not fanned out).",
            labels=["queue"],
        )
        for queue, oldest in (("execution", oldest_copy), ("fanout", oldest_fan_out)):
            age.add_metric([queue], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
        yield age

    def _billing(self):
        from billing.fees import previous_period
        from billing.selectors import billing_period_progress

        progress = billing_period_progress(period=previous_period(timezone.now().date()))
        period = progress.period.strftime("%Y-%m")
        for name, what, value in (
            ("copytrade_billing_followers", "Followers the last month's billing run must invoice.", progress.followers),
            ("copytrade_billing_invoiced", "Of them, those with the month's invoice.", progress.invoiced),
            ("copytrade_billing_unsent", "The month's invoices with something due still in draft.", progress.awaiting_send),
        ):
            family = GaugeMetricFamily(name, what, labels=["period"])
            family.add_metric([period], value)
            yield family

    def _payouts(self):
        from billing.models import Payout

        count = GaugeMetricFamily("copytrade_payouts_pending", "Payouts not paid yet, by status.", labels=["status"])
        amount = GaugeMetricFamily("copytrade_payouts_pending_amount", "Their payees' amounts, by currency.", labels=["currency"])
        rows = Payout.objects.filter(status__in=PENDING_PAYOUT_STATUSES)
        by_status = dict(rows.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
        for status in PENDING_PAYOUT_STATUSES:
            count.add_metric([status], by_status.get(status, 0))
        for currency, total in rows.values_list("currency").annotate(total=Sum("payee_amount")).values_list("currency", "total"):
            amount.add_metric([currency], float(total or 0))
        yield count
        yield amount


class WebhookMetricsMiddleware:
    """Times the webhooks (WEBHOOKS) and counts their answers by status."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        webhook = WEBHOOKS.get(match.url_name) if match is not None else None
        if webhook is not None:
            metrics.WEBHOOK_LATENCY.labels(webhook=webhook, status=str(response.status_code)).observe(time.perf_counter() - started)
        return response


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def worker_metrics_app(environ, start_response):
    """The worker's `/metrics` (no scrape-time figures: the web's endpoint has them)."""
    if environ.get("PATH_INFO") != "/metrics" or not allowed(
        authorization=environ.get("HTTP_AUTHORIZATION", ""), address=environ.get("REMOTE_ADDR", "")
    ):
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [json.dumps(NOT_FOUND).encode()]
    start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
    return [exposition(scrape_time=False)]


def worker_metrics_serve(*, port: int, host: str = "0.0.0.0") -> threading.Thread:  # noqa: S104 - scraped from outside; closed by allowed()
    server = make_server(host, port, worker_metrics_app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    logger.info("metrics on port %s", port)
    return thread
