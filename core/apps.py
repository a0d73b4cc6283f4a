from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from django.urls import register_converter

        from core import receivers  # noqa: F401  (connects them)
        from core.ids import IdConverter

        register_converter(IdConverter, "id")
