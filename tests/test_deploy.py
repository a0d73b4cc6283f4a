"""deploy/ and docker-compose.yml (issue 30): the alert rules and the dashboard query metrics
the code exports, with labels those metrics have; compose's file parses with its profiles.

promtool is not installed here: the rules are parsed as YAML and checked field by field, and
each expression's metric names and label matchers are checked against what core/metrics.py
counts and config/metrics.py reads at scrape time.
"""

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client import Counter, Histogram

from config.metrics import ScrapeTimeCollector
from core import metrics

BASE_DIR = Path(__file__).resolve().parent.parent
DEPLOY = BASE_DIR / "deploy"
DURATION = re.compile(r"^\d+[smhd]$")
SELECTOR = re.compile(r"\b(copytrade_[a-z_]+)(\{[^}]*\})?")
MATCHER = re.compile(r"([a-z_]+)\s*(=~|!~|!=|=)\s*\"")
SEVERITIES = {"page", "warn"}


@pytest.fixture
def exported(db) -> dict[str, set[str]]:
    """Every sample name the processes export → the label names it carries."""
    names: dict[str, set[str]] = {}
    for metric in vars(metrics).values():
        if isinstance(metric, Counter):
            names[f"{metric._name}_total"] = set(metric._labelnames)
        elif isinstance(metric, Histogram):
            for suffix in ("_bucket", "_count", "_sum"):
                names[f"{metric._name}{suffix}"] = set(metric._labelnames) | ({"le"} if suffix == "_bucket" else set())
    for family in ScrapeTimeCollector().collect():
        names[family.name] = {label for sample in family.samples for label in sample.labels} or set(_declared_labels(family))
    return names


def _declared_labels(family) -> list[str]:
    return getattr(family, "_labelnames", [])


def expression_problems(expr: str, exported: dict[str, set[str]]) -> list[str]:
    problems = []
    if expr.count("(") != expr.count(")") or expr.count("{") != expr.count("}"):
        problems.append(f"unbalanced brackets: {expr}")
    found = SELECTOR.findall(expr)
    if not found and "up{" not in expr:
        problems.append(f"names no copytrade metric: {expr}")
    for name, matchers in found:
        if name not in exported:
            problems.append(f"{name} is not exported")
            continue
        for label, _ in MATCHER.findall(matchers):
            if label not in exported[name]:
                problems.append(f"{name} has no label {label!r}")
    return problems


def alert_rules() -> list[dict]:
    document = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_every_alert_rule_has_its_fields_and_queries_exported_metrics(exported):
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    problems = []
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", rule["alert"])
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        assert DURATION.match(rule.get("for", "0s")), rule["alert"]
        problems += [f"{rule['alert']}: {problem}" for problem in expression_problems(rule["expr"], exported)]
    assert problems == []


def test_the_issue_s_alerts_are_all_there():
    queried = {rule["alert"]: rule["expr"] for rule in alert_rules()}
    wanted = {
        "ExecutionQueueStale": "copytrade_queue_oldest_age_seconds",
        "CopyDelayP95High": "histogram_quantile(0.95",
        "ExchangeFailureRateHigh": 'status="failed"',
        "SweeperTakingBack": "copytrade_sweeper_taken_back_total",
        "BillingNotFinished": "day_of_month()",
        "StripeWebhookFailures": 'webhook="stripe"',
    }
    for alert, fragment in wanted.items():
        assert fragment in queried[alert], alert


def test_the_dashboard_queries_exported_metrics_from_the_provisioned_datasource(exported):
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "copytrade.json").read_text())
    datasource = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())["datasources"][0]
    problems = []
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == datasource["uid"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            problems += [f"{panel['title']}: {problem}" for problem in expression_problems(target["expr"], exported)]
    assert problems == []
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])


def test_prometheus_scrapes_web_and_workers_with_the_token_and_loads_the_rules():
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    compose = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
    mounts = {volume.split(":")[1] for volume in compose["services"]["prometheus"]["volumes"] if volume.startswith("./")}
    assert set(config["rule_files"]) <= mounts
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"copytrade-web", "copytrade-worker"}
    for job in jobs.values():
        assert job["metrics_path"] == "/metrics"
        assert job["authorization"]["type"] == "Bearer"
        assert job["authorization"]["credentials_file"] in compose["services"]["prometheus"]["entrypoint"][-1]
    worker_port = compose["x-app"]["environment"]["CELERY_METRICS_PORT"]
    assert jobs["copytrade-worker"]["dns_sd_configs"][0]["port"] == int(worker_port)
    assert set(jobs["copytrade-worker"]["dns_sd_configs"][0]["names"]) <= set(compose["services"])


def test_docker_compose_parses_and_monitoring_is_a_profile_beside_the_app():
    compose = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
    services = compose["services"]
    profiled = {name for name, service in services.items() if service.get("profiles")}
    assert profiled == {"prometheus", "grafana"}
    assert all(services[name]["profiles"] == ["monitoring"] for name in profiled)
    assert {"db", "redis", "web", "worker", "fanout", "beat"} <= set(services) - profiled
    for name, service in services.items():
        depends = service.get("depends_on", [])
        assert set(depends) <= set(services), name
        # a service of the default set never waits for one of a profile
        assert not (set(depends) & profiled) or name in profiled, name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (BASE_DIR / source).exists(), (name, source)
            else:
                assert source in compose["volumes"], (name, source)


def test_compose_puts_pgbouncer_in_transaction_mode_between_the_app_and_postgresql():
    compose = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
    pgbouncer = compose["services"]["pgbouncer"]["environment"]
    app = compose["x-app"]["environment"]

    assert pgbouncer["POOL_MODE"] == "transaction"
    assert "@db:5432/" in pgbouncer["DATABASE_URL"]
    assert "@pgbouncer:5432/" in app["DATABASE_URL"]
    # what transaction pooling does not keep, the app does not use
    assert app["DATABASE_PREPARED_STATEMENTS"] == "false"
    assert app["DATABASE_DISABLE_SERVER_SIDE_CURSORS"] == "true"
    # migrations hold a session: straight to PostgreSQL
    assert "@db:5432/" in compose["services"]["migrate"]["environment"]["DATABASE_URL"]
