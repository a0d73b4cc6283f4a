from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from django.core.signals import request_finished
        from django.urls import register_converter

        from core import receivers  # noqa: F401  (connects them)
        from core.ids import IdConverter
        from core.log_context import forget_request, install_record_factory

        register_converter(IdConverter, "id")
        install_record_factory()
        request_finished.connect(forget_request, dispatch_uid="core.log_context.forget_request")
