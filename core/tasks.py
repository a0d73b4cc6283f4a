"""Beat tasks of core: thin, as everywhere (config/beat.py schedules them)."""

import logging

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from core.retention import operational_rows_prune

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def prune_operational_rows() -> dict[str, int]:
    """Daily: what is past its retention (core/retention.py). A run does a bounded number of
    batches, well inside the task time limit; when old rows are left it sends itself again,
    so a first run on a large table spreads over many short tasks."""
    outcome = operational_rows_prune(
        now=timezone.now(), batch_size=settings.RETENTION_PRUNE_BATCH_SIZE, max_batches=settings.RETENTION_PRUNE_BATCHES_PER_RUN
    )
    logger.info("pruned %s", ", ".join(f"{count} {name}" for name, count in outcome.deleted.items()))
    if not outcome.finished:
        prune_operational_rows.apply_async(countdown=settings.RETENTION_PRUNE_PAUSE_SECONDS)
    return outcome.deleted
