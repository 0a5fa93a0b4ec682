"""The example project's Celery app: ``celery -A example_project worker``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")

app = Celery("example_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# ``celery -A example_project beat`` runs the periodic jobs: identity prefill data is blanked
# once PHONE_VERIFY["PREFILL_RETENTION"] has passed (the purge_prefills command does the same).
app.conf.beat_schedule = {
    "phone-verify-purge-prefills": {
        "task": "phone_verify.tasks.purge_prefills",
        "schedule": 15 * 60,
    },
    # Verifications and delivery events past PHONE_VERIFY["VERIFICATION_RETENTION"].
    "phone-verify-purge-expired-data": {
        "task": "phone_verify.tasks.purge_expired_data",
        "schedule": 24 * 3600,
    },
}
