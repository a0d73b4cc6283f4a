"""Settings shared by every environment (12-factor: everything that varies comes from the env)."""

from decimal import Decimal
from pathlib import Path

import environ
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# The environment is the configuration. A `.env` file (DOT_ENV_FILE, default `.env`) is read
# only when asked, with READ_DOT_ENV=1: docker compose hands `.env` to its containers itself,
# and a `.env` written for it must not change what `make run` or `make demo` do on this machine.
if env.bool("READ_DOT_ENV", default=False):
    env.read_env(env.path("DOT_ENV_FILE", default=str(BASE_DIR / ".env")), overwrite=False)

# Development values: production refuses both (config/settings/production.py).
DEV_SECRET_KEY = "insecure-dev-key-change-me"
DEV_FIELD_ENCRYPTION_KEY = "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg="

SECRET_KEY = env("SECRET_KEY", default=DEV_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    # Before allauth: its page layout and templates are overridden by web's.
    "web",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "csp",
    "config",
    "core",
    "exchanges",
    "copytrade",
    "marketplace",
    "billing",
]

MIDDLEWARE = [
    # First: everything a request logs carries its X-Request-ID (core/log_context.py).
    "core.log_context.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files from the app server itself in every mode (runserver, gunicorn, Docker).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Who is signed in, for the audit trail's entries (core.audit).
    "core.audit.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "csp.middleware.CSPMiddleware",
    "web.middleware.ApplicationErrorMiddleware",
    "config.metrics.WebhookMetricsMiddleware",
    "core.database.DatabaseUnavailableMiddleware",
    "web.middleware.StaffSecondFactorMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "web.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://127.0.0.1:5432/copytrade"),
}
# Persistent connections: workers and web reuse one connection per thread instead of
# paying a TCP + auth handshake per task/request.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME", default="test_copytrade")}
# The execution path's statements are prepared once per connection (copytrade/rows.py);
# off behind a transaction-pooling proxy (PgBouncer in transaction mode), which drops them.
DATABASE_PREPARED_STATEMENTS = env.bool("DATABASE_PREPARED_STATEMENTS", default=True)
if DATABASE_PREPARED_STATEMENTS:
    # Planned once per connection, not per execution: left to choose, PostgreSQL plans the
    # first five executions of each prepared statement for their values (custom plans) before
    # it settles on the generic plan; the load's six-table join takes ~0.55 ms to plan, and a
    # worker's connection lives CONN_MAX_AGE (60 s). Every statement prepared here finds its
    # rows by primary or unique key, so the generic plan is the custom one (index scans).
    # The setting acts on prepared statements only (and on PL/pgSQL's and the foreign-key
    # checks', key lookups too). It is a startup option, which PgBouncer refuses: it goes
    # with the statements it serves.
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["options"] = f"{_options.get('options', '')} -c plan_cache_mode=force_generic_plan".strip()
# Behind PgBouncer in transaction mode a server-side cursor (QuerySet.iterator()) cannot
# outlive its transaction's server connection: docker compose turns them off.
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool("DATABASE_DISABLE_SERVER_SIDE_CURSORS", default=False)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# PostgreSQL refusing connections (too many clients, a restart): pages and API answer 503
# with this Retry-After (core/database.py), never 500.
DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS = env.int("DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS", default=5)

REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "copytrade",
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Front-end files from the npm registry, pinned by package-lock.json and installed by
# `npm ci` (`make install`); served like every other static file, never from a CDN.
STATICFILES_DIRS = [("vendor/htmx", BASE_DIR / "node_modules" / "htmx.org" / "dist")]
# Production serves what `collectstatic` wrote (the Dockerfile runs it): hashed names, gzip
# and brotli, cached for a year. Local and test settings serve straight from the apps.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Email (console by default; SMTP via EMAIL_URL in production) --------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="copytrade <noreply@copytrade.local>")

# --- Accounts (django-allauth) -------------------------------------------------------
# One backend for every door (the web sign-in, the admin login, POST /api/auth/token/):
# allauth's (usernames and emails, Django's permissions), checking each account's password
# once per sign-in (equal timing) and against the account's attempt budget.
AUTHENTICATION_BACKENDS = ["web.auth_backends.AuthenticationBackend"]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "web:leaderboard"
ACCOUNT_LOGOUT_REDIRECT_URL = "web:leaderboard"
# People sign in with their email; accounts made before sign-up existed (admin, demo) by
# username. Others only ever see the display name chosen at sign-up (core.Profile).
ACCOUNT_LOGIN_METHODS = {"email", "username"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_FORMS = {"login": "web.forms.LoginForm", "signup": "web.forms.SignupForm"}
ACCOUNT_USER_DISPLAY = "core.selectors.display_name"
# Its rate limits count per client by core.throttling.client_ip (NUM_PROXIES), like the API's.
ACCOUNT_ADAPTER = "web.adapters.AccountAdapter"
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
# Following the link in the confirmation mail signs the person in (in the browser that
# follows it): confirming is the last step of signing up, not a detour to the login form.
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
# The product's name in the mails allauth sends ("Hello from copytrade!").
SITE_NAME = env("SITE_NAME", default="copytrade")
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[copytrade] "
# allauth's rate limits (ACCOUNT_RATE_LIMITS: failed logins, sign-ups, password resets,
# confirmation mails) stay on with their defaults; they count in the cache (Redis).

# Two-factor sign-in (allauth.mfa): an authenticator app (TOTP) with recovery codes, turned
# on from /accounts/2fa/. Sensitive actions (a new exchange key, a new API token) ask for a
# code again when the last one is older than ACCOUNT_REAUTHENTICATION_TIMEOUT (5 min).
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = SITE_NAME
# One step of tolerance either side: a phone clock a few seconds off still signs in.
MFA_TOTP_TOLERANCE = 1
# Staff must have an authenticator before the admin opens (production turns this on).
STAFF_REQUIRE_MFA = env.bool("STAFF_REQUIRE_MFA", default=False)

# API tokens (core.ApiToken) stop working this many days after they are created; a login
# at POST /api/auth/token/ or the tokens page gives a new one.
API_TOKEN_LIFETIME_DAYS = env.int("API_TOKEN_LIFETIME_DAYS", default=90)

# Retention (core/retention.py, daily: config/beat.py): notifications, read or not, are
# deleted this many days after they were written; GroupedMail rows (a group of notices was
# mailed to a follower who shows them nowhere in the app) after this many, long past any
# group that can still gain a line (at least 7 days each: a shorter one is refused).
NOTIFICATION_RETENTION_DAYS = env.int("NOTIFICATION_RETENTION_DAYS", default=90)
GROUPED_MAIL_RETENTION_DAYS = env.int("GROUPED_MAIL_RETENTION_DAYS", default=30)
# Deleted this many rows per statement (one short transaction each), at most this many
# statements per task (well inside CELERY_TASK_SOFT_TIME_LIMIT); a task that leaves old rows
# sends itself again after this pause, so the web and workers get the database in between.
RETENTION_PRUNE_BATCH_SIZE = env.int("RETENTION_PRUNE_BATCH_SIZE", default=5000)
RETENTION_PRUNE_BATCHES_PER_RUN = env.int("RETENTION_PRUNE_BATCHES_PER_RUN", default=20)
RETENTION_PRUNE_PAUSE_SECONDS = env.float("RETENTION_PRUNE_PAUSE_SECONDS", default=5.0)

# --- Content-Security-Policy (django-csp) --------------------------------------------
# The pages load scripts, styles and images from this origin only: no inline script, no
# inline style, nothing from a CDN. Left out: the JSON API with its developer pages (the
# browsable API and Swagger UI inline their scripts), and django-celery-beat's admin pages,
# whose schedule editor is an inline script.
CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": ["/api/", "/admin/django_celery_beat/"],
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# --- Money ---------------------------------------------------------------------------
# Project-wide digits for every money DecimalField (see core.money).
MONEY_MAX_DIGITS = 20
MONEY_DECIMAL_PLACES = 8
QUANTITY_MAX_DIGITS = 30
QUANTITY_DECIMAL_PLACES = 12

# --- Field encryption (exchange credentials) -----------------------------------------
# Comma-separated Fernet keys, newest first. Encrypt with the first, decrypt with any:
# rotation is "prepend a new key, run rotate_field_encryption, drop the old key".
FIELD_ENCRYPTION_KEY = env("FIELD_ENCRYPTION_KEY", default=DEV_FIELD_ENCRYPTION_KEY)

# --- Exchanges ------------------------------------------------------------------------
# e.g. "binance=http://127.0.0.1:8765": point ccxt at the loopback simulator. Operators
# only: users can never set an exchange URL through the API.
EXCHANGE_URL_OVERRIDES = env.dict("EXCHANGE_URL_OVERRIDES", default={})
EXCHANGE_TIMEOUT_MS = env.int("EXCHANGE_TIMEOUT_MS", default=10_000)
EXCHANGE_MARKETS_CACHE_SECONDS = env.int("EXCHANGE_MARKETS_CACHE_SECONDS", default=3600)
EXCHANGE_TICKER_CACHE_SECONDS = env.float("EXCHANGE_TICKER_CACHE_SECONDS", default=2.0)
# Order rate limits: (capacity, refill window seconds), per account and per exchange (IP).
# Defaults from the exchanges' published limits; Binance spot: 50 orders / 10 s / account.
# Bybit v5: order creates per UID 10 / s (linear; spot allows 20), 600 requests / 5 s per IP.
# The exchanges an account may be connected to (ccxt ids; "paper" is always allowed).
SUPPORTED_EXCHANGE_IDS = env.list("SUPPORTED_EXCHANGE_IDS", default=["binance", "bybit", "okx"])
EXCHANGE_RATE_LIMITS = {
    "default": {"account": (10, 1.0), "exchange": (1200, 60.0)},
    "binance": {"account": (50, 10.0), "exchange": (6000, 60.0)},
    "bybit": {"account": (10, 1.0), "exchange": (600, 5.0)},
    "okx": {"account": (60, 2.0), "exchange": (1000, 2.0)},
    "paper": {"account": (100, 1.0), "exchange": (100_000, 1.0)},
}
RATE_LIMIT_OVERRIDE = env.json("EXCHANGE_RATE_LIMITS_JSON", default={})
# This host's egress identity (its public IP, say): the exchanges' per-IP limits are kept
# per value, so worker hosts with their own addresses each get the full per-IP budget.
# Empty: one per-IP bucket for the whole deployment (hosts behind one NAT address).
EXCHANGE_EGRESS_ID = env("EXCHANGE_EGRESS_ID", default="")
# The public addresses the platform's orders leave from: a follower limits their API key to
# these on the exchange (a key without such a restriction is accepted with this advice).
EXCHANGE_EGRESS_ADDRESSES = env.list("EXCHANGE_EGRESS_ADDRESSES", default=[])
EXCHANGE_RATE_LIMITS.update(RATE_LIMIT_OVERRIDE)

PAPER_FEE_RATE = Decimal(env("PAPER_FEE_RATE", default="0.001"))
PAPER_SLIPPAGE_RATE = Decimal(env("PAPER_SLIPPAGE_RATE", default="0.0005"))
# Where paper accounts take prices and market rules from (a ccxt exchange id).
PAPER_PRICE_SOURCE = env("PAPER_PRICE_SOURCE", default="binance")

# --- Copy trading ---------------------------------------------------------------------
WEBHOOK_MAX_AGE_SECONDS = env.int("WEBHOOK_MAX_AGE_SECONDS", default=300)
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=16_384)
# A signal-only strategy's trade is recorded at the market's price on arrival; a price the
# leader sends is kept beside it, and refused when further than this (percent) from the market.
SIGNAL_PRICE_TOLERANCE_PERCENT = Decimal(env("SIGNAL_PRICE_TOLERANCE_PERCENT", default="2"))
EXCHANGE_SYNC_INTERVAL_SECONDS = env.float("EXCHANGE_SYNC_INTERVAL_SECONDS", default=10.0)
# Copy engine (copytrade.services.execution, "Leases"). A run's lease on its copied trade:
# one exchange call (EXCHANGE_TIMEOUT_MS) plus a margin, renewed before each further call, so
# a live run keeps it and a killed worker's rows are taken back within this + one sweep.
COPYTRADE_EXECUTION_LEASE_SECONDS = env.int("COPYTRADE_EXECUTION_LEASE_SECONDS", default=15)
# A waiting run keeps its row until its re-sent message is due plus this: how late a due
# message may start (a busy pool) before it is presumed lost with its worker.
COPYTRADE_WAIT_GRACE_SECONDS = env.float("COPYTRADE_WAIT_GRACE_SECONDS", default=10.0)
# While the execution queue is empty, a copied trade enqueued this long ago that no run has
# picked up was lost with the worker it was delivered to (copytrade/services/sweeper.py).
COPYTRADE_UNSTARTED_AFTER_SECONDS = env.float("COPYTRADE_UNSTARTED_AFTER_SECONDS", default=10.0)
# Beat runs the sweeper this often: a row whose lease ended is taken back at the next sweep.
COPYTRADE_SWEEP_EVERY_SECONDS = env.float("COPYTRADE_SWEEP_EVERY_SECONDS", default=5.0)
# An order sent but not found by its client order id may still be in flight; only after this
# long (more than ccxt's 10 s recvWindow, after which the exchange refuses it) is it safe to
# place it again.
COPYTRADE_ORDER_SETTLE_SECONDS = env.float("COPYTRADE_ORDER_SETTLE_SECONDS", default=15.0)
# How long an execution waits before looking again for the copy's earlier copied
# trades (per-copy order) or the strategy's earlier fan-out.
COPYTRADE_ORDERING_RETRY_SECONDS = env.float("COPYTRADE_ORDERING_RETRY_SECONDS", default=0.5)
# A fan-out enqueues this many orders, then goes to the back of the fan-out queue for the
# rest, so leader trades fanned out at once take turns (copytrade/services/fanout.py).
COPYTRADE_FANOUT_CHUNK = env.int("COPYTRADE_FANOUT_CHUNK", default=50)
COPYTRADE_EXECUTION_MAX_RETRIES = env.int("COPYTRADE_EXECUTION_MAX_RETRIES", default=8)
# Fill notifications (copytrade/services/fill_notices.py): one batch per leader trade this
# long after its fan-out, again every as long while some of its copies are still open, at
# most this many times (a copy still open after that is told on the copy's page only).
COPYTRADE_FILL_NOTICE_SECONDS = env.float("COPYTRADE_FILL_NOTICE_SECONDS", default=5.0)
COPYTRADE_FILL_NOTICE_MAX_RETRIES = env.int("COPYTRADE_FILL_NOTICE_MAX_RETRIES", default=120)
# A rate-limit wait up to this long reserves the bucket's next slot and sleeps until it in
# the worker thread (nothing is claimed or sent meanwhile); a longer one re-sends the
# task with a countdown. Each re-sent task is held in a worker's memory until it is due:
# 10,000 followers paced by one exchange-wide bucket meant 10,000 of them (bench/RESULTS.md).
COPYTRADE_RATE_LIMIT_INLINE_WAIT_SECONDS = env.float("COPYTRADE_RATE_LIMIT_INLINE_WAIT_SECONDS", default=1.0)
# The sweeper re-enqueues copied trades nobody picked up (no lease) that were enqueued longer
# ago than this, and unfinished fan-outs recorded longer ago: longer than a healthy queue
# takes to drain, since a queued message and a lost one look alike (copytrade/services/sweeper.py).
COPYTRADE_STUCK_AFTER_SECONDS = env.int("COPYTRADE_STUCK_AFTER_SECONDS", default=120)
COPYTRADE_SWEEP_BATCH = env.int("COPYTRADE_SWEEP_BATCH", default=5000)
# Copy quality (issue 27). An entry (open, increase) not yet sent this long after the leader's
# fill (a signal-only leader: the signal's receipt) is skipped "too late"; exits are never
# skipped for lateness (copytrade/services/lateness.py).
COPY_MAX_ENTRY_DELAY_SECONDS = env.float("COPY_MAX_ENTRY_DELAY_SECONDS", default=60.0)
# Drift (copytrade/services/drift.py): every COPY_DRIFT_CHECK_SECONDS each live copy's recorded
# positions are compared with its exchange account's holdings; a difference within
# COPY_DRIFT_TOLERANCE_PERCENT of the expected figure, or worth at most COPY_DRIFT_DUST_QUOTE in
# the market's quote currency, is not drift.
COPY_DRIFT_CHECK_SECONDS = env.float("COPY_DRIFT_CHECK_SECONDS", default=300.0)
COPY_DRIFT_TOLERANCE_PERCENT = Decimal(env("COPY_DRIFT_TOLERANCE_PERCENT", default="1"))
COPY_DRIFT_DUST_QUOTE = Decimal(env("COPY_DRIFT_DUST_QUOTE", default="1"))

# Per-user caps: what one user may hold at once (a 409 beyond them).
USER_MAX_EXCHANGE_ACCOUNTS = env.int("USER_MAX_EXCHANGE_ACCOUNTS", default=20)
# An exchange account's balance and equity, as its pages and the accounts API show them, are
# read through its gateway at most this often (exchanges.selectors.exchange_account_reading).
EXCHANGE_ACCOUNT_READING_SECONDS = env.int("EXCHANGE_ACCOUNT_READING_SECONDS", default=60)
USER_MAX_STRATEGIES = env.int("USER_MAX_STRATEGIES", default=20)
USER_MAX_LIVE_COPIES = env.int("USER_MAX_LIVE_COPIES", default=50)
# Multiplier copies skip the 100 % allocation limit (they size on the leader's notional):
# together, at their leaders' full capital, they may trade at most this much (quote, USD).
USER_MAX_MULTIPLIER_NOTIONAL = Decimal(env("USER_MAX_MULTIPLIER_NOTIONAL", default="1000000"))

# --- Billing --------------------------------------------------------------------------
# The payee's share of every fee, per program (seed 000: AI strategies, leader 60 %;
# seed 001: marketplace providers, provider 80 %). Only the payee share is configured:
# the platform keeps the remainder, so the two always sum to the fee.
BILLING_PAYOUT_SHARES = {
    "ai": {"payee": Decimal(env("BILLING_AI_PAYEE_SHARE", default="0.60"))},
    "marketplace": {"payee": Decimal(env("BILLING_MARKETPLACE_PAYEE_SHARE", default="0.80"))},
}
# Fees are computed on pnl_billing and invoiced in this (Stripe, lower-case) currency.
BILLING_CURRENCY = env("BILLING_CURRENCY", default="usd")
# P&L is converted to the billing currency at fill time (copytrade/currency.py): a quote
# listed here at its peg (the billing currency per unit), any other through the exchange's
# <QUOTE>/USDT price. "USDT=1,USDC=1,..." in the environment replaces the table.
BILLING_CURRENCY_PEGS = {
    currency.upper(): Decimal(peg)
    for currency, peg in env.dict("BILLING_CURRENCY_PEGS", default={"USD": "1", "USDT": "1", "USDC": "1", "BUSD": "1", "DAI": "1"}).items()
}
# A provider's change of fee terms reaches an existing copy from the first full calendar
# month that starts at least this many days after its follower is told (docs/BILLING.md).
FEE_TERMS_NOTICE_DAYS = env.int("FEE_TERMS_NOTICE_DAYS", default=30)
STRIPE_API_KEY = env("STRIPE_API_KEY", default="")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env("STRIPE_API_BASE", default="")

# --- Marketplace ----------------------------------------------------------------------
CIRCUIT_BREAKER_MAX_DRAWDOWN = {
    "low": Decimal(env("CB_MAX_DRAWDOWN_LOW", default="15")),
    "medium": Decimal(env("CB_MAX_DRAWDOWN_MEDIUM", default="30")),
    "high": Decimal(env("CB_MAX_DRAWDOWN_HIGH", default="50")),
}
# Track-record verification: a leader trade's price may lie this far (percent) outside
# its 1-minute candle's [low, high] and still count as verified.
VERIFICATION_TOLERANCE_PERCENT = Decimal(env("VERIFICATION_TOLERANCE_PERCENT", default="0.1"))
# The verified badge: at least this much history, this many trades, this share verified.
VERIFIED_BADGE_MIN_DAYS = env.int("VERIFIED_BADGE_MIN_DAYS", default=30)
VERIFIED_BADGE_MIN_TRADES = env.int("VERIFIED_BADGE_MIN_TRADES", default=20)
VERIFIED_BADGE_MIN_PERCENT = Decimal(env("VERIFIED_BADGE_MIN_PERCENT", default="99"))
# Recent comments shown on a trader's profile.
MARKETPLACE_RECENT_COMMENTS = env.int("MARKETPLACE_RECENT_COMMENTS", default=10)
# The leaderboard ranks a leader only with at least this many days of history and closed
# trades; a shorter record is listed apart as "new".
LEADERBOARD_MIN_DAYS = env.int("LEADERBOARD_MIN_DAYS", default=30)
LEADERBOARD_MIN_CLOSED_TRADES = env.int("LEADERBOARD_MIN_CLOSED_TRADES", default=10)
# Sharpe, Sortino, Calmar and profit factor are shown for a period only from this many daily
# returns and closed trades in it; fewer say nothing (Sharpe 14 on two trades).
RATIOS_MIN_DAILY_RETURNS = env.int("RATIOS_MIN_DAILY_RETURNS", default=20)
RATIOS_MIN_CLOSED_TRADES = env.int("RATIOS_MIN_CLOSED_TRADES", default=5)
# A follower may rate a provider once one of their copied trades of its strategies has
# closed (or reduced a position), or after this many days of copying it.
RATING_MIN_COPY_DAYS = env.int("RATING_MIN_COPY_DAYS", default=30)

# Request bodies (API, webhooks) nesting deeper than this are refused as malformed (core.json).
JSON_MAX_DEPTH = env.int("JSON_MAX_DEPTH", default=32)

# --- Client addresses ------------------------------------------------------------------
# How many proxies (load balancers) in front of the app append to X-Forwarded-For: the
# client is that many entries from the right (core.throttling.client_ip). 0: nothing in
# front, REMOTE_ADDR is the client, X-Forwarded-For is ignored. Every per-client limit
# (API throttles, the admin login, allauth's) counts by this address.
NUM_PROXIES = env.int("NUM_PROXIES", default=0)

# --- DRF ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "core.api_conventions.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "config.schema.AutoSchema",
    "EXCEPTION_HANDLER": "core.api_conventions.exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "core.json.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "core.throttling.AnonThrottle",
        "core.throttling.UserThrottle",
    ],
    "NUM_PROXIES": NUM_PROXIES,
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("THROTTLE_ANON", default="60/min"),
        "user": env("THROTTLE_USER", default="600/min"),
        "auth": env("THROTTLE_AUTH", default="10/min"),
        # Password attempts on one account, whichever door and client they come from.
        "auth_account": env("THROTTLE_AUTH_ACCOUNT", default="10/min"),
        "webhook": env("THROTTLE_WEBHOOK", default="120/min"),
        # Requests to /webhook that fail authentication (unknown strategy, bad signature), per client.
        "webhook_unsigned": env("THROTTLE_WEBHOOK_UNSIGNED", default="30/min"),
        # Requests to the Stripe webhook that fail its signature, per client (signed events are never throttled).
        "stripe_webhook_unsigned": env("THROTTLE_STRIPE_WEBHOOK_UNSIGNED", default="30/min"),
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "copytrade API",
    "DESCRIPTION": "Copy trading and signal-provider marketplace.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc from drf-spectacular-sidecar's static files (whitenoise serves
    # them): the docs load nothing from a CDN. No validator badge: it would send the
    # schema's URL to validator.swagger.io.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "COMPONENT_SPLIT_REQUEST": True,
    # `<id:...>` in a path (core.ids): a whole number from 1 to the largest bigint.
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "format": "int64", "minimum": 1, "maximum": 2**63 - 1}},
    "ENUM_NAME_OVERRIDES": {
        "StrategyKindEnum": "copytrade.models.Strategy.Kind",
        "CopiedTradeStatusEnum": "copytrade.models.CopiedTrade.Status",
        "StrategyStatusEnum": "copytrade.models.Strategy.Status",
        "CopyStatusEnum": "copytrade.models.Copy.Status",
        "PositionDriftActionEnum": "copytrade.models.PositionDrift.Action",
        "AuditActionEnum": "core.models.AuditEntry.Action",
        # A signal's action keeps its name beside the audit trail's `action`.
        "ActionEnum": "copytrade.services.leader_trades.signal.ACTIONS",
    },
}

# --- Celery ---------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
# A task is acknowledged after it ran, and given back if the worker process dies, so a
# SIGKILL mid-order re-delivers it; execution is idempotent (claim + client order id).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes every database connection before and after every task
# unless this is set (it then closes them every 2 x this many tasks). Connections are
# instead recycled like Django's per request, by CONN_MAX_AGE and health checks
# (config/celery.py): one connection per worker thread, not one per task.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1_000_000)
# ...and only this many threads per worker process keep theirs while they wait for work:
# a burst uses one per busy thread, an idle worker holds at most this many (config/celery.py).
DATABASE_IDLE_CONNECTIONS_PER_WORKER = env.int("DATABASE_IDLE_CONNECTIONS_PER_WORKER", default=2)
# ... once their threads have waited this long for work (a fan-out keeps one per busy thread).
DATABASE_IDLE_SECONDS = env.float("DATABASE_IDLE_SECONDS", default=5.0)
# Execution is I/O bound (an HTTP call to the exchange per task): a thread pool keeps many
# orders in flight per process. One place for the shipped worker configuration: `make run`,
# docker-compose and the benchmark all start `celery worker` without pool flags.
CELERY_WORKER_POOL = env("CELERY_WORKER_POOL", default="threads")
CELERY_WORKER_CONCURRENCY = env.int("CELERY_WORKER_CONCURRENCY", default=16)
# Worker processes per machine (`make run` and the benchmark start this many; compose scales the service).
CELERY_WORKER_PROCESSES = env.int("CELERY_WORKER_PROCESSES", default=2)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=90)
# Redis re-delivers an unacked message after the visibility timeout. It must exceed the
# longest countdown/eta we use and the hard time limit, or a slow task would run twice
# (harmless thanks to the claim, but wasteful); an hour bounds recovery after a crash.
# (A killed worker's copied trades do not wait for it: the sweeper takes them back within
# seconds, copytrade/services/sweeper.py; billing tasks last minutes, billing/tasks.py.)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
# RabbitMQ (CELERY_BROKER_URL=amqp://..., recommended for scale-out; the worker tests and the
# fault soak run on both brokers). Redelivery is the broker's own there, no visibility
# timeout: a consumer's unacknowledged messages go back to the queue the moment its
# connection closes (a killed worker: at once), or after two missed AMQP heartbeats when a
# node vanishes without closing it: 10 s heartbeats (Celery's default is 120 s). Acks late
# and a prefetch of one message per thread (above), as on Redis. RabbitMQ's own
# consumer_timeout (default 30 min) closes a channel that holds a delivery unacknowledged
# longer; our longest holds are countdowns (<= 5 min: retry_backoff_max) and billing tasks
# (<= 16 min), below it: keep rabbitmq.conf's consumer_timeout above the longest task.
CELERY_BROKER_HEARTBEAT = env.int("CELERY_BROKER_HEARTBEAT", default=10)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = [Queue(name, Exchange(name), routing_key=name) for name in ("default", "fanout", "execution", "metrics", "billing")]
CELERY_TASK_ROUTES = {
    "copytrade.tasks.fan_out_leader_trade": {"queue": "fanout"},
    "copytrade.tasks.execute_copied_trade": {"queue": "execution"},
    "copytrade.tasks.*": {"queue": "default"},
    "marketplace.tasks.*": {"queue": "metrics"},
    "billing.tasks.*": {"queue": "billing"},
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

# --- Logging --------------------------------------------------------------------------
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
# "plain" (a line of text) or "json" (a JSON object per line, for a log pipeline).
LOG_FORMAT = env("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ValueError(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}")

# --- Metrics (config/metrics.py) ------------------------------------------------------
# `/metrics` (web) and each worker's port answer a request with `Authorization: Bearer
# <METRICS_TOKEN>` or from these networks (CIDRs); anyone else gets a 404. Both empty: closed.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=[])
# A Celery worker serves its own `/metrics` on this port (0: none); `make run` gives each its honcho $PORT.
CELERY_METRICS_PORT = env.int("CELERY_METRICS_PORT", default=0)
# Everything goes to stderr through one handler (honcho and docker collect it per process);
# docs/OPERATING.md, "Logs", says where each process's lines end up.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact_secrets": {"()": "core.redaction.RedactSecretsFilter"},
        "request_refusals": {"()": "core.logs.RequestRefusalFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        # One JSON object per line with the request id and the leader/copied trade ids (core/log_context.py).
        "json": {"()": "core.log_context.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["redact_secrets"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's default config gives `django` a handler of its own (printing, with DEBUG, every
        # request warning a second time and unredacted): it only propagates to ours.
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django.request": {"handlers": [], "level": LOG_LEVEL, "propagate": True, "filters": ["request_refusals"]},
        # ccxt logs request headers/bodies at DEBUG: never let that reach a handler.
        "ccxt": {"level": "WARNING"},
        # Its DEBUG lines print the whole context of a failed variable lookup: a page's CSRF
        # token, an account mail's confirmation link. Nothing there helps an operator.
        "django.template": {"level": "INFO"},
        "urllib3": {"level": "WARNING"},
    },
}

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"


def _static_file_headers(headers, path, url) -> None:
    # whitenoise answers static files before XFrameOptionsMiddleware runs; an SVG or a page
    # among them must not be framed either.
    headers["X-Frame-Options"] = X_FRAME_OPTIONS


WHITENOISE_ADD_HEADERS_FUNCTION = _static_file_headers
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
