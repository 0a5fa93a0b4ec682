"""The example project's Celery app: ``celery -A example_project worker``."""

import os

from celery import Celery

from phone_verify.beat import BEAT_SCHEDULE

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")

app = Celery("example_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# ``celery -A example_project worker -B`` (or a separate ``beat``) runs the app's periodic jobs:
# the send outbox's dispatcher every 10 s, and the retention purges.
app.conf.beat_schedule = BEAT_SCHEDULE
