"""The Celery app. Messages only wake workers up: the database rows are the truth."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("keyship")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
