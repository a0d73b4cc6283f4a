from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from core import receivers  # noqa: F401  (connects them)
