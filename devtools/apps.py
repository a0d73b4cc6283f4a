from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    """Commands that run beside the product (simulator, Stripe stand-in, demo, benchmark);
    installed by the local and test settings only, never imported by the product apps."""

    name = "devtools"
    verbose_name = "Development tools"
