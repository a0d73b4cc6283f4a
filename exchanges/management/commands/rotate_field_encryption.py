"""Re-encrypt every exchange credential under the newest FIELD_ENCRYPTION_KEY.

Rotation: prepend a new key to FIELD_ENCRYPTION_KEY (comma-separated, newest first), deploy,
run this command, then drop the old key. Reading decrypts with any listed key; saving
encrypts with the first.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from exchanges.models import ExchangeAccount

CREDENTIAL_FIELDS = ["api_key", "api_secret", "api_passphrase"]


class Command(BaseCommand):
    help = "Re-encrypt all exchange credentials with the first key of FIELD_ENCRYPTION_KEY."

    def handle(self, *args, **options):
        rotated = 0
        for account_id in ExchangeAccount.objects.order_by("id").values_list("id", flat=True):
            with transaction.atomic():
                try:
                    account = ExchangeAccount.objects.select_for_update().only("id", *CREDENTIAL_FIELDS).get(id=account_id)
                except ValueError as exc:  # a credential no listed key decrypts
                    raise CommandError(f"exchange account {account_id}: {exc}; keep its old key in FIELD_ENCRYPTION_KEY") from None
                account.save(update_fields=CREDENTIAL_FIELDS)
            rotated += 1
        self.stdout.write(f"re-encrypted the credentials of {rotated} exchange account(s) under the newest key")
