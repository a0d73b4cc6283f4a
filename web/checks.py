"""A missing front-end file is reported at start, not found by a visitor as a dead page."""

from django.contrib.staticfiles import finders
from django.core import checks

REQUIRED_STATIC_FILES = ("vendor/htmx/htmx.min.js",)


@checks.register(checks.Tags.staticfiles)
def front_end_files_installed(app_configs, **kwargs):
    return [
        checks.Warning(
            f"The static file {path} is missing.",
            hint="Run `make install` (it runs `npm ci`, which installs the versions package-lock.json pins).",
            id="web.W001",
        )
        for path in REQUIRED_STATIC_FILES
        if finders.find(path) is None
    ]
