"""pytest: real PostgreSQL and Redis, fast password hashing, no real throttling surprises."""

from .base import *  # noqa: F401,F403
from .base import INSTALLED_APPS, REST_FRAMEWORK, STORAGES, env

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Tests get their own Redis database so they never touch a developer's demo data.
REDIS_URL = env("TEST_REDIS_URL", default="redis://127.0.0.1:6379/15")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "copytrade-test",
    }
}
# The test Redis, unless CELERY_BROKER_URL says otherwise (RabbitMQ: the worker tests and the
# fault soak run on both brokers, issue 15).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        **REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
        "anon": "100000/min",
        "user": "100000/min",
        "webhook": "100000/min",
        "webhook_unsigned": "100000/min",
        "stripe_webhook_unsigned": "100000/min",
    },
}

# The simulator, the Stripe stand-in, the demo and the benchmark (their commands).
INSTALLED_APPS = [*INSTALLED_APPS, "devtools"]

# Static files straight from the apps' folders, no collectstatic needed (whitenoise).
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = None  # nothing collected here; whitenoise would warn about a missing folder
