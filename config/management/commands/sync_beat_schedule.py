from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from config.beat import PREFIX, schedule
from config.celery import app


class Command(BaseCommand):
    help = "Sync the beat schedule defined in config/beat.py into the database (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        app.loader.import_default_modules()
        registered = set(app.tasks.keys())
        wanted: set[str] = set()
        for name, entry in schedule().items():
            full_name = PREFIX + name
            if entry["task"] not in registered:
                self.stdout.write(f"skip  {name}: task {entry['task']} is not registered")
                continue
            wanted.add(full_name)
            defaults = {"task": entry["task"], "enabled": True, "interval": None, "crontab": None}
            if "every" in entry:
                defaults["interval"], _ = IntervalSchedule.objects.get_or_create(
                    every=max(1, int(entry["every"])), period=IntervalSchedule.SECONDS
                )
            else:
                defaults["crontab"], _ = CrontabSchedule.objects.get_or_create(
                    timezone="UTC",
                    minute=entry["crontab"].get("minute", "*"),
                    hour=entry["crontab"].get("hour", "*"),
                    day_of_month=entry["crontab"].get("day_of_month", "*"),
                    month_of_year=entry["crontab"].get("month_of_year", "*"),
                    day_of_week=entry["crontab"].get("day_of_week", "*"),
                )
            _, created = PeriodicTask.objects.update_or_create(name=full_name, defaults=defaults)
            self.stdout.write(f"{'add ' if created else 'keep'}  {name}")
        removed, _ = PeriodicTask.objects.filter(name__startswith=PREFIX).exclude(name__in=wanted).delete()
        if removed:
            self.stdout.write(f"removed {removed} stale entr{'y' if removed == 1 else 'ies'}")
