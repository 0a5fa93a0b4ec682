# Load the Celery app when Django starts so that shared tasks use it.
from .celery import app as celery_app

__all__ = ["celery_app"]
