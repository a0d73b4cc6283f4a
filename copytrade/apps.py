from django.apps import AppConfig


class CopytradeConfig(AppConfig):
    name = "copytrade"
