"""`make env`: write `.env` from `.env.example` with freshly generated secrets."""

import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


def generated_secrets() -> dict[str, str]:
    """New values for the secrets `.env.example` leaves empty. All are shell- and
    compose-safe (url-safe base64: no `$`, quote or space for an interpolation to bite)."""
    return {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        # Prometheus's bearer token for /metrics, and Grafana's admin password (`--profile monitoring`).
        "METRICS_TOKEN": secrets.token_urlsafe(32),
        "GRAFANA_ADMIN_PASSWORD": secrets.token_urlsafe(16),
    }


def env_file_text(template: str, values: dict[str, str]) -> str:
    """The template with `NAME=` lines of the generated names filled in; the rest as it is."""
    lines, missing = [], set(values)
    for line in template.splitlines():
        name, separator, _ = line.partition("=")
        if separator and name.strip() in values and not line.lstrip().startswith("#"):
            line = f"{name.strip()}={values[name.strip()]}"
            missing.discard(name.strip())
        lines.append(line)
    lines += [f"{name}={values[name]}" for name in sorted(missing)]
    return "\n".join(lines) + "\n"


class Command(BaseCommand):
    help = "Write .env from .env.example with a fresh SECRET_KEY, FIELD_ENCRYPTION_KEY, METRICS_TOKEN and Grafana password (never overwrites without --force)."

    def add_arguments(self, parser):
        parser.add_argument("--path", default=str(Path(settings.BASE_DIR) / ".env"), help="where to write (default: .env)")
        parser.add_argument("--template", default=str(Path(settings.BASE_DIR) / ".env.example"))
        parser.add_argument("--force", action="store_true", help="replace an existing file (its secrets are lost)")

    def handle(self, *args, path: str, template: str, force: bool, **options):
        target = Path(path)
        if target.exists() and not force:
            raise CommandError(
                f"{target} exists: keeping it (its FIELD_ENCRYPTION_KEY may be the only key to stored credentials). "
                "Use --force (make env FORCE=1) to replace it."
            )
        values = generated_secrets()
        text = env_file_text(Path(template).read_text(), values)
        # Owner-only from the first byte: the file holds the keys to every stored credential.
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        os.chmod(target, 0o600)
        self.stdout.write(f"wrote {target} with a fresh {' and '.join(sorted(values))}")
