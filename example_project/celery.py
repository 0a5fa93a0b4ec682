"""The example project's Celery app: ``celery -A example_project worker``."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

from phone_verify.beat import BEAT_SCHEDULE

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")

app = Celery("example_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# ``celery -A example_project worker -B`` (or a separate ``beat``) runs the app's periodic jobs:
# the send outbox's dispatcher every 10 s, and every retention rule every 15 min.
app.conf.beat_schedule = BEAT_SCHEDULE


@task_prerun.connect
@task_postrun.connect
def close_old_database_connections(sender=None, **kwargs) -> None:  # noqa: ANN001, ANN003
    """Around each task, what Django does around each request: close the connections past
    CONN_MAX_AGE or broken, keep the others (settings.CELERY_DB_REUSE_MAX keeps Celery from
    closing them all). Not for a task run eagerly inside a request: its connection is the
    request's."""
    if not getattr(sender.request, "is_eager", False):
        from django.db import close_old_connections

        close_old_connections()
