"""LOG_FORMAT=json on the deploy path: the Procfile's `web` (gunicorn, production settings) and
`worker` write nothing but JSON objects, one per line, naming the request or the task."""

import http.client
import json
import os
import signal
import subprocess
import time

import pytest
from celery import current_app
from django.conf import settings

from tests.test_deploy import _free_port, _procfile, _production_env, _wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _json_lines(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "nothing was logged"
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}\n{text}") from None
    return records


def _get(port: int, path: str, headers=()):
    server = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    server.request("GET", path, headers={"Host": "licensing.example.com", **dict(headers)})
    response = server.getresponse()
    response.read()
    server.close()
    return response


def test_the_web_process_logs_json_lines_that_name_each_request(tmp_path):
    port = _free_port()
    env = {**_production_env(tmp_path, port), "LOG_FORMAT": "json"}
    log = tmp_path / "web.log"
    with log.open("w") as output:
        web = subprocess.Popen(
            ["bash", "-c", "exec " + _procfile()["web"]],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_for(port, web)
        # A proxy's request id is kept; one shaped like a secret is replaced
        kept = _get(port, "/healthz?q=private-search", {"X-Request-ID": "proxy-7f3a9c01"})
        assert kept.getheader("X-Request-ID") == "proxy-7f3a9c01"
        token = "ks_" + "Ab1" * 15
        headers = {"X-Forwarded-Proto": "https", "X-Request-ID": token}
        missing = _get(port, "/no-such-page/", headers)
        assert missing.status == 404
        request_id = missing.getheader("X-Request-ID")
        assert request_id and request_id != token
        time.sleep(0.5)  # gunicorn writes the access line after the response
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=30)

    text = log.read_text()
    records = _json_lines(text)
    for record in records:
        assert {"timestamp", "level", "logger", "message", "process"} <= set(record), record
    access = [r for r in records if r["logger"] == "gunicorn.access"]
    healthz = next(r for r in access if r["path"] == "/healthz")
    assert healthz["request_id"] == "proxy-7f3a9c01" and healthz["status"] == 200
    assert "private-search" not in text and token not in text  # no query string, no secret
    not_found = [r for r in records if r.get("request_id") == request_id]
    assert {r["logger"] for r in not_found} == {"django.request", "gunicorn.access"}
    assert all(r["process"] == "web" for r in not_found)
    assert any(r["logger"] == "gunicorn.error" for r in records)  # gunicorn's own lines too


@pytest.mark.redis
def test_the_worker_logs_json_lines_that_name_each_task(tmp_path):
    env = {
        **_production_env(tmp_path, _free_port()),
        "LOG_FORMAT": "json",
        "WORKER_CONCURRENCY": "1",
    }
    log = tmp_path / "worker.log"
    with log.open("w") as output:
        worker = subprocess.Popen(
            ["bash", "-c", "exec " + _procfile()["worker"]],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        task_id = current_app.send_task("apps.fulfillment.tasks.queued_work_rescue_task").id
        deadline = time.monotonic() + 45
        while f"{task_id}] succeeded" not in log.read_text():
            assert worker.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)

    records = _json_lines(log.read_text())
    for record in records:
        assert {"timestamp", "level", "logger", "message", "process"} <= set(record), record
    ran = [r for r in records if r.get("task_id") == task_id]
    assert ran and all(
        r["task_name"] == "apps.fulfillment.tasks.queued_work_rescue_task" for r in ran
    )
    assert {r["process"] for r in records} == {"worker"}
