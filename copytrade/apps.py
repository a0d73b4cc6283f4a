from django.apps import AppConfig


class CopytradeConfig(AppConfig):
    name = "copytrade"

    def ready(self) -> None:
        from copytrade import receivers  # noqa: F401  (connects them)
