from django.core.management.base import BaseCommand

from devtools.stripe_standin import make_standin_server
from devtools.stripe_standin.server import API_KEY_PREFIX


class Command(BaseCommand):
    help = "Serve the loopback Stripe stand-in, for local runs and CI (never production)."
    # It runs none of the project's code, so it starts even where the app would not pass
    # its checks yet (e.g. CI bringing services up before migrating).
    requires_system_checks = []

    def add_arguments(self, parser):
        # Its control endpoints are unauthenticated: keep it on loopback unless a
        # container network needs otherwise.
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=12111)

    def handle(self, *args, host: str, port: int, **options):
        server = make_standin_server(host=host, port=port)
        self.stdout.write(
            f"Stripe stand-in on {server.base_url}; point the app at it with "
            f"STRIPE_API_BASE={server.base_url} STRIPE_API_KEY={API_KEY_PREFIX}<anything>"
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            self.stdout.write("Stopped.")
        finally:
            server.server_close()
