"""`make bench-auth`: do sign-up and sign-in take as long for an address that has an account
as for one that has none (issue 32)? Times real requests through the whole stack (the
settings' password hasher, allauth, the API), in pairs, in alternating order, and compares
the medians. Every request comes from its own client address and every existing address is
tried once, so no rate limit answers instead of the code measured. The accounts it makes
(under bench-auth.invalid) are deleted at the end."""

import itertools
import logging
import statistics
import time
import uuid

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.test import Client, override_settings

DOMAIN = "bench-auth.invalid"
PASSWORD = "bench-auth-passphrase-7"
WRONG_PASSWORD = "not-the-passphrase-7"


class Command(BaseCommand):
    help = "Sign-up and sign-in timing for addresses with and without an account; fails when the medians differ by more than --tolerance."

    def add_arguments(self, parser):
        parser.add_argument("--pairs", type=int, default=10, help="Requests per address kind and door.")
        parser.add_argument("--tolerance", type=float, default=0.25, help="Largest allowed |existing/new - 1| of the medians.")

    def handle(self, *args, pairs: int, tolerance: float, **options):
        self._addresses = (f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}" for n in itertools.count(1))
        run = uuid.uuid4().hex[:8]
        # One mail per request either way (a verification, or "you already have an account"):
        # kept in memory rather than printed.
        # Every refused password is a "Bad Request" warning: hundreds of lines saying nothing here.
        logging.disable(logging.WARNING)
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
            try:
                existing = [self._account(f"{run}-{n}") for n in range(pairs)]
                doors = {
                    "web sign-up": lambda email: self._post(
                        "/accounts/signup/",
                        {
                            "email": email,
                            "display_name": f"Bench {uuid.uuid4().hex[:8]}",
                            "password1": PASSWORD,
                            "password2": PASSWORD,
                        },
                    ),
                    "web sign-in": lambda email: self._post("/accounts/login/", {"login": email, "password": WRONG_PASSWORD}),
                    "API token": lambda email: self._post("/api/auth/token/", {"username": email, "password": WRONG_PASSWORD}),
                }
                results = {door: self._pairs(send, existing=existing, run=run) for door, send in doors.items()}
            finally:
                get_user_model().objects.filter(email__endswith=f"@{DOMAIN}").delete()
                logging.disable(logging.NOTSET)
        self._report(results, tolerance)

    def _account(self, name: str) -> str:
        user = get_user_model().objects.create_user(username=f"bench-{name}", email=f"{name}@{DOMAIN}", password=PASSWORD)
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
        return user.email

    def _post(self, path: str, data: dict) -> float:
        client = Client(HTTP_HOST="localhost", REMOTE_ADDR=next(self._addresses))
        started = time.perf_counter()
        response = client.post(path, data)
        elapsed = time.perf_counter() - started
        if response.status_code >= 500 or response.status_code == 429:
            raise CommandError(f"{path} answered {response.status_code}: the timing would measure that, not the code")
        return elapsed

    def _pairs(self, send, *, existing: list[str], run: str) -> dict[str, list[float]]:
        times = {"existing": [], "new": []}
        for n, email in enumerate(existing):
            new_email = f"{run}-new-{uuid.uuid4().hex[:8]}@{DOMAIN}"
            order = [("existing", email), ("new", new_email)]
            for kind, address in order if n % 2 == 0 else reversed(order):
                times[kind].append(send(address))
        return times

    def _report(self, results: dict, tolerance: float) -> None:
        failed = []
        self.stdout.write(f"{'door':<12} {'existing ms':>12} {'new ms':>10} {'ratio':>7}")
        for door, times in results.items():
            existing, new = statistics.median(times["existing"]) * 1000, statistics.median(times["new"]) * 1000
            ratio = existing / new
            self.stdout.write(f"{door:<12} {existing:>12.1f} {new:>10.1f} {ratio:>7.2f}")
            if abs(ratio - 1) > tolerance:
                failed.append(door)
        if failed:
            raise CommandError(f"existing and new addresses differ by more than {tolerance:.0%} at: {', '.join(failed)}")
        self.stdout.write(f"Every door within {tolerance:.0%}.")
