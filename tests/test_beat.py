"""Every job the README promises runs: beat's schedule against the tasks and the README.

A task that beat must run is marked `periodic=True` on its decorator. The schedule names
exactly those tasks, and the README's `beat` row in its table of processes says which job
runs how often: the three agree. And the Procfile's beat, started as a deployment starts
it, sends the reminders to the broker.
"""

import datetime
import inspect
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis
from celery.beat import PersistentScheduler
from celery.schedules import crontab, maybe_schedule
from celery.schedules import schedule as interval
from django.conf import settings

from config.celery_app import app
from tests.test_deploy import _procfile, _production_env

# What the README calls each job, where it does not name the task.
README_WORDS = {
    "the sweep": "apps.fulfillment.tasks.fulfil_due_task",
    "the rescuer": "apps.fulfillment.tasks.queued_work_rescue_task",
    "the reminders": "apps.notifications.tasks.reminders_task",
    "the change feed's status moves": "apps.entitlements.tasks.entitlement_status_changes_task",
    "the heartbeats": "apps.core.tasks.heartbeat_task",
}
CADENCES = {
    "30 seconds": datetime.timedelta(seconds=30),
    "minute": datetime.timedelta(minutes=1),
    "five minutes": datetime.timedelta(minutes=5),
    "hour": datetime.timedelta(hours=1),
    "day": datetime.timedelta(days=1),
}


def project_tasks() -> dict:
    app.loader.import_default_modules()  # every app's tasks module, as a worker loads them
    return {name: task for name, task in app.tasks.items() if name.startswith("apps.")}


def _period(entry) -> datetime.timedelta:
    """How often beat runs an entry: its interval, or the step of a crontab that runs once
    an hour or once a day."""
    schedule = maybe_schedule(entry["schedule"])
    if isinstance(schedule, interval):
        return schedule.run_every
    assert isinstance(schedule, crontab), f"{entry['task']}: an interval or a crontab"
    every_day = (
        len(schedule.day_of_week) == 7
        and len(schedule.day_of_month) == 31
        and len(schedule.month_of_year) == 12
    )
    assert every_day and len(schedule.minute) == 1, f"{entry['task']}: an unusual crontab"
    if len(schedule.hour) == 24:
        return CADENCES["hour"]
    assert len(schedule.hour) == 1, f"{entry['task']}: an unusual crontab"
    return CADENCES["day"]


def scheduled() -> dict[str, datetime.timedelta]:
    return {entry["task"]: _period(entry) for entry in settings.CELERY_BEAT_SCHEDULE.values()}


def readme_beat_row() -> str:
    readme = (Path(settings.BASE_DIR) / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| `beat` |")]
    assert len(rows) == 1, "the README's table of processes has one `beat` row"
    return rows[0]


def readme_jobs(row: str) -> dict[str, datetime.timedelta]:
    """The jobs the row names, each with its cadence: "the sweep (`fulfil_due_task`) and the
    rescuer every minute, the reminders every hour"."""
    jobs, tasks = {}, project_tasks()
    text = row.split("|")[2]
    for clause, cadence in re.findall(rf"(.*?)\bevery ({'|'.join(CADENCES)})\b", text):
        named = {
            task
            for name in re.findall(r"`(\w+_task)`", clause)
            for task in tasks
            if task.endswith(f".tasks.{name}")
        }
        named |= {task for words, task in README_WORDS.items() if words in clause}
        assert named, f"the README names no job in {clause!r}"
        for task in named:
            jobs[task] = CADENCES[cadence]
    return jobs


def test_every_periodic_task_is_scheduled_and_the_schedule_runs_only_periodic_tasks():
    tasks = project_tasks()
    periodic = {name for name, task in tasks.items() if getattr(task, "periodic", False)}

    assert periodic == set(scheduled())
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in tasks, f"{entry['task']} is no task of the project"
        assert not entry.get("args") and not entry.get("kwargs"), "beat passes no arguments"


def test_a_task_that_takes_nothing_is_a_periodic_one():
    # A task that takes no ids has nothing to do but what is due: only beat runs it, so a
    # new one is marked periodic (and then scheduled), or nothing ever runs it.
    for name, task in project_tasks().items():
        if not inspect.signature(task.run).parameters:
            assert getattr(task, "periodic", False), f"{name} takes nothing: mark it periodic"


def test_the_readme_says_which_job_beat_runs_how_often():
    assert readme_jobs(readme_beat_row()) == scheduled()


@pytest.mark.parametrize(
    "row",
    [
        "| `beat` | Celery beat: the sweep and the rescuer every minute, the change feed's status "
        "moves every five minutes, the heartbeats every 30 seconds, the reminders every hour "
        "(the schedule lives in settings) |",
        "| `beat` | Celery beat: the sweep (`fulfil_due_task`) and the rescuer "
        "(`queued_work_rescue_task`) every minute, the status moves of subscriptions for the "
        "change feed (`entitlement_status_changes_task`) every five minutes, the heartbeats "
        "(`heartbeat_task`) every 30 seconds, the reminders (`reminders_task`) at the top of "
        "every hour (`CELERY_BEAT_SCHEDULE` in settings) |",
    ],
)
def test_the_readme_row_is_read_by_words_or_by_task_names(row):
    assert readme_jobs(row) == scheduled()


def test_a_job_missing_from_the_readme_row_is_caught():
    row = "| `beat` | Celery beat: the sweep and the rescuer every minute |"
    assert readme_jobs(row) != scheduled()


REMINDERS = "apps.notifications.tasks.reminders_task"


def _seed_schedule(path: Path, *, task: str, last_run: datetime.datetime) -> None:
    """A beat schedule file, as beat keeps it between runs, in which `task` last ran at
    `last_run` (the other entries as if just run)."""
    scheduler = PersistentScheduler(app=app, schedule_filename=str(path), lazy=True)
    scheduler.setup_schedule()
    entries = [entry for entry in scheduler.schedule.values() if entry.task == task]
    assert entries, f"{task} is not in the schedule"
    for entry in entries:
        entry.last_run_at = last_run
    scheduler.close()


def _queued_tasks(broker, queue: str) -> list[str]:
    return [json.loads(raw)["headers"]["task"] for raw in broker.lrange(queue, 0, -1)]


@pytest.mark.redis
def test_the_procfiles_beat_sends_the_reminders_once_an_hour_has_begun(tmp_path):
    # Given beat's schedule file, in which the reminders last ran two hours ago (a beat that
    # was down, or the last run of yesterday evening)
    schedule_file = tmp_path / "celerybeat-schedule"
    now = datetime.datetime.now(datetime.UTC)
    _seed_schedule(schedule_file, task=REMINDERS, last_run=now - datetime.timedelta(hours=2))
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queue = settings.CELERY_TASK_ROUTES["apps.notifications.*"]["queue"]
    broker.delete(queue)
    env = {
        **_production_env(tmp_path, port=0),
        "CELERY_BEAT_SCHEDULE_FILENAME": str(schedule_file),
    }
    log = open(tmp_path / "beat.log", "w")

    # When the Procfile's beat process runs
    beat = subprocess.Popen(
        ["bash", "-c", "exec " + _procfile()["beat"]],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while REMINDERS not in _queued_tasks(broker, queue) and time.monotonic() < deadline:
            assert beat.poll() is None, (tmp_path / "beat.log").read_text()[-3000:]
            time.sleep(0.5)
    finally:
        os.killpg(beat.pid, signal.SIGTERM)
        beat.wait(timeout=30)
        log.close()

    # Then the reminders' task is on the mail queue, for a worker to run
    assert REMINDERS in _queued_tasks(broker, queue), (tmp_path / "beat.log").read_text()[-3000:]
    broker.delete(queue)
