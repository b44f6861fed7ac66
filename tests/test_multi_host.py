"""Keyship on several hosts: Linux network namespaces on this machine, each with its own var/
and no file shared with another, joined by links this test makes.

- services: PostgreSQL, Redis (no persistence), an SMTP server and an S3 server (moto),
  each listening on the services host's address only;
- web: the Procfile's `web` (gunicorn);
- worker-a and worker-b: the Procfile's `worker` and `beat` each (two beats: beat is safe to
  run twice, README "Running on several hosts").

1,000 due lines ship while worker-b is killed whole (every process in it, SIGKILL, beat
included). Every line ships once, every address gets its email (a second copy at most once per
kill), every certificate is in the bucket and none on a host's disk, and the web host serves
every certificate to the portal user who owns it and none to a stranger.

Needs root (namespaces and links), `ip`, PostgreSQL's binaries and redis-server; .ci/run runs
it as root. Everything it makes (namespaces, links, processes, folders) is removed at the end.
"""

import collections
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings

from tests.core.test_production_settings import PRODUCTION_ENV
from tests.s3 import CREDENTIALS, REGION, s3_client
from tests.services import postgres_bin
from tests.smtp import folder_messages
from tests.test_deploy import Proxy, _procfile

pytestmark = pytest.mark.hosts

ORDERS = 100
LINES_PER_ORDER = 10  # 1,000 lines: one shipment and one email (10 certificates) per order
PASSWORD = "a-long-portal-password"
BUCKET = "keyship-hosts"
# Seconds before the rescuer may hand a killed host's rows to another worker. Above what one
# email or one certificate takes on a busy 2-core machine; low enough for a test of minutes.
LEASE = 45
HOSTS = ("svc", "web", "wa", "wb")  # services, web, worker-a, worker-b
SUFFIX = {"svc": 1, "web": 2, "wa": 3, "wb": 4}  # each host's address on the link
TEST_SUFFIX = 9  # this test's own end of the link, in the host it runs on


class Lab:
    """The namespaces, links, processes and folders of one run, and their removal."""

    def __init__(self, root: Path):
        self.root = root
        tag = f"{os.getpid() % 10000}"
        self.ns = {host: f"ks{tag}{host}" for host in HOSTS}
        self.link = f"ks{tag}t0"  # this test's end of its link to the services host's bridge
        self.subnet = f"10.{random.randint(64, 127)}.{random.randint(1, 254)}"
        self.processes: list[tuple[str, subprocess.Popen]] = []
        self.logs = root / "logs"
        self.logs.mkdir()

    def address(self, host: str) -> str:
        return f"{self.subnet}.{SUFFIX[host]}"

    def exec(self, host: str, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns[host], *argv]

    # Links --------------------------------------------------------------------------------
    def build(self):
        """A bridge in the services host; each other host, and this test, on a link to it."""
        svc = self.ns["svc"]
        for host in HOSTS:
            _ip("netns", "add", self.ns[host])
            _ip("-n", self.ns[host], "link", "set", "lo", "up")
        _ip("-n", svc, "link", "add", "br0", "type", "bridge")
        _ip("-n", svc, "addr", "add", f"{self.address('svc')}/24", "dev", "br0")
        _ip("-n", svc, "link", "set", "br0", "up")
        for host in ("web", "wa", "wb"):
            inside, outside = f"{self.ns[host]}0", f"{self.ns[host]}1"
            _ip("link", "add", inside, "netns", self.ns[host], "type", "veth", "peer", outside,
                "netns", svc)  # fmt: skip
            _ip("-n", svc, "link", "set", outside, "master", "br0", "up")
            _ip("-n", self.ns[host], "addr", "add", f"{self.address(host)}/24", "dev", inside)
            _ip("-n", self.ns[host], "link", "set", inside, "up")
        _ip("link", "add", self.link, "type", "veth", "peer", f"{self.link}s", "netns", svc)
        _ip("-n", svc, "link", "set", f"{self.link}s", "master", "br0", "up")
        _ip("addr", "add", f"{self.subnet}.{TEST_SUFFIX}/24", "dev", self.link)
        _ip("link", "set", self.link, "up")
        # Nothing of this test leaves the machine: its own link carries every address it uses.
        for host in HOSTS:
            route = _ip("route", "get", self.address(host)).stdout
            assert f"dev {self.link} " in route, route

    # Processes ----------------------------------------------------------------------------
    def start(self, host: str, name: str, argv: list[str], env: dict, cwd=None, user=None):
        log = open(self.logs / f"{name}.log", "w")
        if user:
            argv = ["runuser", "-u", user, "--", *argv]
        process = subprocess.Popen(
            self.exec(host, argv),
            cwd=cwd or settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.processes.append((name, process))
        return process

    def run(self, host: str, argv: list[str], env: dict, timeout=300):
        result = subprocess.run(
            self.exec(host, argv),
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, f"{argv}: {result.stdout[-3000:]}{result.stderr[-3000:]}"
        return result.stdout

    def kill_host(self, host: str) -> int:
        """SIGKILL to every process in the host, as a machine that loses its power."""
        pids = _ip("netns", "pids", self.ns[host]).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(pids)

    def tail(self, name: str, size=3000) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-size:] if path.exists() else ""

    def remove(self):
        for host in HOSTS:
            listed = subprocess.run(["ip", "netns", "pids", self.ns[host]], capture_output=True)
            if listed.returncode == 0:
                self.kill_host(host)
        for _name, process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=30)
        for host in HOSTS:
            subprocess.run(["ip", "netns", "del", self.ns[host]], capture_output=True)
        subprocess.run(["ip", "link", "del", self.link], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


def _ip(*args) -> subprocess.CompletedProcess:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    assert result.returncode == 0, f"ip {' '.join(args)}: {result.stderr}"
    return result


def _wait(condition, timeout: float, what: str, every=0.5, check=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check:
            check()
        if condition():
            return
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def _listening(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=1).close()
        return True
    except OSError:
        return False


def _files(root: Path) -> dict[str, str]:
    """The import files: a product, the end customer and its contact, a stranger, the orders."""
    catalog = {
        "products": [
            {
                "sku": "KS-FW-ADV",
                "name": "Advanced Routing",
                "description": "Dynamic routing for one gateway.",
                "delivery_method": "jal",
                "license_type": "perpetual",
                "term_months": None,
                "renews_sku": None,
                "instructions_url": "https://docs.keyship.example/licenses/routing",
            }
        ]
    }
    accounts = {
        "accounts": [
            {"account_id": "0100012345", "name": "Northwind Networks", "kind": "customer"},
            {"account_id": "0100099999", "name": "Contoso", "kind": "customer"},
        ],
        "contacts": [
            {
                "contact_id": "C-100001",
                "email": "alice@northwind.example",
                "name": "Alice Moreau",
                "language": "en",
                "account_ids": ["0100012345"],
            },
            {
                "contact_id": "C-900001",
                "email": "mallory@contoso.example",
                "name": "Mallory",
                "language": "en",
                "account_ids": ["0100099999"],
            },
        ],
    }
    today = time.strftime("%Y-%m-%d", time.gmtime())
    orders = {
        "orders": [
            {
                "order_number": f"SO-HOSTS-{number:04d}",
                "language": "en",
                "accounts": [
                    {
                        "account_id": "0100012345",
                        "name": "Northwind Networks",
                        "role": "end_customer",
                    }  # fmt: skip
                ],
                "emails": [f"buyer{number:04d}@northwind.example"],
                "lines": [
                    {
                        "line_number": line,
                        "sku": "KS-FW-ADV",
                        "quantity": 1,
                        "requested_ship_date": today,
                        "renews_ssrn": None,
                    }  # fmt: skip
                    for line in range(1, LINES_PER_ORDER + 1)
                ],
            }
            for number in range(ORDERS)
        ]
    }
    paths = {}
    for name, body in (("catalog", catalog), ("accounts", accounts), ("orders", orders)):
        paths[name] = str(root / f"{name}.json")
        Path(paths[name]).write_text(json.dumps(body))
    return paths


def _sql(dsn: str, query: str, *params):
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as connection:
        cursor = connection.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def test_a_day_on_three_hosts_survives_a_worker_host_killed_whole():
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="keyship-hosts-"))
    root.chmod(0o755)  # PostgreSQL's user walks through it to its own folder
    lab = Lab(root)
    try:
        _day_on_three_hosts(lab, started)
    finally:
        lab.remove()
    assert not root.exists()
    leftovers = _ip("netns", "list").stdout
    assert not any(name in leftovers for name in lab.ns.values()), leftovers


def _day_on_three_hosts(lab: Lab, started: float):
    lab.build()
    svc = lab.address("svc")
    host_dirs = {host: lab.root / host for host in HOSTS}
    for folder in host_dirs.values():
        folder.mkdir()

    # The services host: PostgreSQL, Redis, SMTP and S3, on its address only --------------
    pg_dir = host_dirs["svc"] / "postgres"
    pg_dir.mkdir()
    shutil.chown(pg_dir, "postgres", "postgres")
    pg_bin = postgres_bin()
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            str(pg_bin / "initdb"),
            "-D",
            str(pg_dir / "data"),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        ],  # fmt: skip
        check=True,
        capture_output=True,
        cwd=pg_dir,
    )
    with open(pg_dir / "data" / "pg_hba.conf", "a") as hba:
        hba.write(f"host all all {lab.subnet}.0/24 trust\n")
    lab.start(
        "svc",
        "postgres",
        [
            str(pg_bin / "postgres"),
            "-D",
            str(pg_dir / "data"),
            "-c",
            f"listen_addresses={svc}",
            "-c",
            "port=5432",
            "-c",
            f"unix_socket_directories={pg_dir}",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
        ],  # fmt: skip
        env={"PATH": os.environ["PATH"], "LANG": "C.UTF-8"},
        cwd=pg_dir,
        user="postgres",
    )
    lab.start(
        "svc",
        "redis",
        [
            "redis-server",
            "--bind",
            svc,
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "no",
            "--dir",
            str(host_dirs["svc"]),
        ],  # fmt: skip
        env={"PATH": os.environ["PATH"]},
    )
    mail_dir = host_dirs["svc"] / "mail"
    mail_dir.mkdir()
    python_env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(lab.root),
        "LANG": "C.UTF-8",
    }
    lab.start("svc", "smtp", [sys.executable, "-m", "tests.smtp", svc, "2525", str(mail_dir)],
              env=python_env)  # fmt: skip
    lab.start("svc", "s3", [sys.executable, "-m", "moto.server", "-H", svc, "-p", "9000"],
              env=python_env)  # fmt: skip
    for name, port in (("postgres", 5432), ("redis", 6379), ("smtp", 2525), ("s3", 9000)):
        _wait(lambda port=port: _listening(svc, port), 60, f"{name} on {svc}:{port}")
    dsn = f"postgresql://postgres@{svc}:5432/postgres"
    _sql(dsn, "CREATE DATABASE keyship")
    dsn = f"postgresql://postgres@{svc}:5432/keyship"
    bucket = s3_client(f"http://{svc}:9000")
    bucket.create_bucket(Bucket=BUCKET)

    # What every Keyship host is given: the shared services' addresses, nothing else ------
    shared = {
        **python_env,
        **PRODUCTION_ENV,
        **CREDENTIALS,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": f"postgres://postgres@{svc}:5432/keyship",
        "CELERY_BROKER_URL": f"redis://{svc}:6379/0",
        "CACHE_URL": f"redis://{svc}:6379/1",
        "EMAIL_URL": f"smtp://{svc}:2525",
        "AWS_STORAGE_BUCKET_NAME": BUCKET,
        "AWS_S3_ENDPOINT_URL": f"http://{svc}:9000",
        "AWS_S3_REGION_NAME": REGION,
        "AWS_S3_ADDRESSING_STYLE": "path",
        "ALLOWED_HOSTS": "licensing.example.com",
        "CERTIFICATE_RENDER_LEASE": str(LEASE),
        "EMAIL_SEND_LEASE": str(LEASE),
        "EMAIL_DOCUMENTS_WAIT": "10",
    }

    def host_env(host: str, **more) -> dict:
        var = host_dirs[host] / "var"
        return {**shared, "VAR_DIR": str(var), "MEDIA_ROOT": str(var / "media"), **more}

    # The web host gathers its static files into its own var/ meanwhile ------------------
    procfile = _procfile()
    web_env = host_env(
        "web", STATIC_ROOT=str(host_dirs["web"] / "var" / "static"), PORT="8000",
        WEB_CONCURRENCY="2",
    )  # fmt: skip
    manage = [sys.executable, "manage.py"]
    static = lab.start("web", "collectstatic", [*manage, "collectstatic", "--noinput"], web_env)

    # Release, from the services host: the schema, then the day's data through the import
    # commands (one process: Django starts once) ------------------------------------------
    release = host_env("svc")
    lab.run("svc", [*manage, "migrate", "--noinput", "-v", "0"], release, timeout=600)
    files = _files(host_dirs["svc"])
    load = (
        "from django.core.management import call_command\n"
        f"for command, path in {sorted(files.items())!r}:\n"
        "    call_command('import_' + command, path)\n"
        "from apps.accounts.models import User\n"
        "for user in User.objects.filter(email__in=['alice@northwind.example',"
        " 'mallory@contoso.example']):\n"
        f"    user.set_password({PASSWORD!r}); user.save()\n"
    )
    lab.run("svc", [*manage, "shell", "-c", load], release)
    assert _sql(dsn, "SELECT count(*) FROM orders_orderline WHERE status = 'open'")[0][0] == (
        ORDERS * LINES_PER_ORDER
    )
    prepared = time.monotonic()

    # The web host, and the two worker hosts with a beat each, from the Procfile ----------
    assert static.wait(timeout=300) == 0, lab.tail("collectstatic")
    lab.processes.remove(("collectstatic", static))  # done: not a process of the host's
    lab.start("web", "web", ["bash", "-c", "exec " + procfile["web"]], web_env)
    # worker-b runs one worker process: a kill interrupts at most one email in the window
    # between the mail server's "250 OK" and its row's "sent".
    for host, concurrency in (("wa", "2"), ("wb", "1")):
        env = host_env(host, WORKER_CONCURRENCY=concurrency)
        lab.start(host, f"{host}-worker", ["bash", "-c", "exec " + procfile["worker"]], env)
        lab.start(host, f"{host}-beat", ["bash", "-c", "exec " + procfile["beat"]], env)

    wb_killed = False

    def all_running():
        for name, process in lab.processes:
            if process.poll() is not None and not (wb_killed and name.startswith("wb-")):
                raise AssertionError(f"{name} ended:\n{lab.tail(name)}")

    _wait(lambda: _listening(lab.address("web"), 8000), 90, "the web host", check=all_running)
    # The sweep now, as `Ship now` or the first minute's beat would send it.
    lab.run("wa", [sys.executable, "-m", "celery", "-A", "config", "call",
                   "apps.fulfillment.tasks.fulfil_due_task"], host_env("wa"))  # fmt: skip

    # Kill worker-b whole once the emails are going out ------------------------------------
    def emails_arrived() -> int:
        return len([n for n in os.listdir(mail_dir) if n.endswith(".eml")])

    _wait(lambda: emails_arrived() >= 10, 300, "the first emails", check=all_running)
    killed = lab.kill_host("wb")
    wb_killed = True
    kills = 1
    assert killed >= 3, "worker-b's worker, its pool process and its beat"
    in_flight = _sql(dsn, "SELECT count(*) FROM outbox_delivery WHERE status <> 'sent'")[0][0]
    assert in_flight > 0, "the kill came too late to test anything"
    kill_at = time.monotonic()

    def everything_done() -> bool:
        return (
            _sql(
                dsn,
                "SELECT (SELECT count(*) FROM orders_orderline WHERE status = 'open')"
                " + (SELECT count(*) FROM entitlements_certificate WHERE status <> 'ready')"
                " + (SELECT count(*) FROM outbox_delivery WHERE status <> 'sent')",
            )[0][0]
            == 0
        )

    try:
        _wait(everything_done, 600, "every line shipped and every email sent", every=2,
              check=all_running)  # fmt: skip
    except AssertionError as error:
        raise AssertionError(f"{error}\n{lab.tail('wa-worker')}\n{lab.tail('wb-worker')}") from None
    done_at = time.monotonic()
    time.sleep(2)  # an email repeated by the rescue would be arriving now

    # Every line shipped once, in one shipment per order ---------------------------------
    assert _sql(dsn, "SELECT count(*) FROM orders_orderline WHERE status = 'fulfilled'")[0][0] == (
        ORDERS * LINES_PER_ORDER
    )
    assert _sql(dsn, "SELECT count(*) FROM orders_shipment")[0][0] == ORDERS
    certificates = _sql(
        dsn,
        "SELECT e.ssrn, c.file, c.sha256 FROM entitlements_certificate c"
        " JOIN entitlements_entitlement e ON e.id = c.entitlement_id",
    )
    assert len(certificates) == ORDERS * LINES_PER_ORDER

    # Every address got its email, a second copy at most once per kill ------------------
    messages = folder_messages(mail_dir)
    received = collections.Counter(message["Message-ID"] for message in messages)
    sent = dict(_sql(dsn, "SELECT message_id, recipient FROM outbox_delivery"))
    assert set(received) == set(sent)
    copies = sum(count - 1 for count in received.values())
    assert copies <= kills, received.most_common(3)
    buyers = {f"buyer{number:04d}@northwind.example" for number in range(ORDERS)}
    assert buyers <= {message["X-Envelope-To"] for message in messages}
    for message in messages:
        if message["X-Envelope-To"] in buyers:
            pdfs = [part for part in message.iter_attachments() if part.get_content_type() ==
                    "application/pdf"]  # fmt: skip
            assert len(pdfs) == LINES_PER_ORDER

    # Every certificate is a private object of the bucket; no host keeps one on its disk --
    stored = set()
    for page in bucket.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        stored |= {item["Key"] for item in page.get("Contents", [])}
    assert {name for _ssrn, name, _sha in certificates} <= stored
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://{svc}:9000/{BUCKET}/{certificates[0][1]}", timeout=10)
    assert refused.value.code == 403
    assert not [path for host in ("web", "wa", "wb") for path in host_dirs[host].rglob("*.pdf")]

    # The web host serves every certificate to its owner, and none to a stranger ---------
    def signed_in(email: str) -> Proxy:
        proxy = Proxy(8000, address=lab.address("web"))
        assert proxy.sign_in("/account/login/", email, PASSWORD).status == 302
        return proxy

    def downloaded(batch: list) -> list:
        """Each certificate of `batch` as the owner downloads it: (ssrn, status, sha256)."""
        alice = signed_in("alice@northwind.example")
        served = []
        for ssrn, _name, _sha256 in batch:
            response = alice.request("GET", f"/entitlements/{ssrn}/certificate/")
            served.append((ssrn, response.status, hashlib.sha256(response.body).hexdigest()))
        return served

    # Four browsers at once, so that both of the web host's processes serve.
    with ThreadPoolExecutor(4) as browsers:
        served = [row for rows in browsers.map(downloaded, [certificates[n::4] for n in
                  range(4)]) for row in rows]  # fmt: skip
    assert sorted(served) == sorted((ssrn, 200, sha256) for ssrn, _name, sha256 in certificates)
    mallory = signed_in("mallory@contoso.example")
    ssrn = certificates[0][0]
    assert mallory.request("GET", f"/entitlements/{ssrn}/certificate/").status == 404
    served_at = time.monotonic()

    print(
        f"hosts: set up and data {prepared - started:.0f} s; shipped, rendered and sent "
        f"{ORDERS * LINES_PER_ORDER} lines in {done_at - prepared:.0f} s "
        f"({done_at - kill_at:.0f} s after the kill); served {len(certificates)} "
        f"certificates in {served_at - done_at:.0f} s; emails {len(received)}, "
        f"second copies {copies}; processes killed on worker-b: {killed}"
    )
