"""The whole pipeline as production runs it, for `make bench-day` and tests/test_faults.py.

The Procfile's `worker` and `beat` run as processes of their own (same commands, same flags)
against PostgreSQL (a database of the pipeline's own), a Redis of its own (a redis-server on a
free port, without persistence: a restart loses every queued message) and a real SMTP server
(aiosmtpd, in this process) that records when it accepted each email and can be told to
answer 421 for a while. `seed` makes due lines in one transaction: they are all due at the
instant it commits, and beat's sweep ships them within its minute.

    with Pipeline("keyship_day") as pipeline:
        pipeline.start("worker", "beat")
        due = pipeline.seed(lines=2000, orders=500)
        pipeline.wait(emails=500, timeout=900)
        print(pipeline.figures(due))

This module is also the seeding script: `python benchmarks/pipeline.py seed LINES ORDERS
PREFIX` (run by `Pipeline.seed` with the pipeline's environment).
"""

import base64
import email
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from email.policy import default as default_policy
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from scratch_database import scratch_database_url  # noqa: E402

IN_FLIGHT_DELIVERIES = ("queued", "sending", "retry")
IN_FLIGHT_CERTIFICATES = ("queued", "rendering")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def procfile_command(name: str) -> str:
    """The Procfile's command for process `name`, as written there."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        key, _, command = line.partition(":")
        if key.strip() == name:
            return command.strip()
    raise KeyError(f"the Procfile has no process {name!r}")


@dataclass
class Accepted:
    at: float  # time.time() when the server accepted it
    recipient: str
    message_id: str
    attachments: int


class RecordingHandler:
    """aiosmtpd handler: keeps when each message was accepted; answers 421 while `refusing`."""

    def __init__(self):
        self.accepted: list[Accepted] = []
        self.refused = 0
        self.refuse_until = 0.0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        if time.time() < self.refuse_until:
            with self.lock:
                self.refused += 1
            return "421 4.3.2 Service not available, try again later"
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        attachments = sum(1 for _ in message.iter_attachments())
        with self.lock:
            for recipient in envelope.rcpt_tos:
                self.accepted.append(
                    Accepted(time.time(), recipient.lower(), message["Message-ID"], attachments)
                )
        return "250 OK"


class Pipeline:
    """Worker, beat, Redis and SMTP for one run; every process it starts, it stops."""

    def __init__(self, database: str, *, environment: dict | None = None, logs: Path | None = None):
        self.database = database
        self.database_url = scratch_database_url(database, fresh=True)
        self.folder = Path(tempfile.mkdtemp(prefix="keyship-pipeline-"))
        self.logs = logs or self.folder
        self.redis_port = free_port()
        self.smtp_port = free_port()
        self.handler = RecordingHandler()
        self.processes: dict[str, subprocess.Popen] = {}
        self.redis: subprocess.Popen | None = None
        self.smtp = None
        bin_dir = str(Path(sys.executable).parent)
        self.environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))},
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "EMAIL_URL": f"smtp://127.0.0.1:{self.smtp_port}",
            "DEBUG": "false",
            # Production refuses keys shorter than these (config/settings/base.py).
            "SECRET_KEY": "keyship-pipeline-secret-key-" + "p" * 30,
            "ACTIVATION_CODE_KEY": "keyship-pipeline-activation-code-key",
            "LICENSE_SIGNING_KEY": base64.b64encode(b"keyship-pipeline-signing-key-32b").decode(),
            "MEDIA_ROOT": str(self.folder / "media"),
            "CELERY_BEAT_SCHEDULE_FILENAME": str(self.folder / "celerybeat-schedule"),
            "PROMETHEUS_MULTIPROC_DIR": str(self.folder / "metrics"),
            "LOG_LEVEL": "INFO",
            **(environment or {}),
        }
        (self.folder / "metrics").mkdir()

    # Lifecycle ----------------------------------------------------------------------------
    def __enter__(self):
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=self.environment,
            check=True,
        )
        self.redis_start()
        self.smtp_start()
        return self

    def __exit__(self, *exc):
        for name in list(self.processes):
            self.stop(name)
        if self.redis:
            self.redis_stop()
        if self.smtp:
            self.smtp.stop()
        self.terminate_connections()
        shutil.rmtree(self.folder / "media", ignore_errors=True)

    def start(self, *names: str) -> None:
        """Start the Procfile's processes `names`, each in a process group of its own (a
        prefork worker's children are killed with it)."""
        for name in names:
            log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
            self.processes[name] = subprocess.Popen(
                ["bash", "-c", "exec " + procfile_command(name)],
                cwd=ROOT,
                env=self.environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            log.close()

    def kill(self, name: str, how: int = signal.SIGKILL) -> None:
        """Kill process `name` and its children at once, as a host that dies would."""
        process = self.processes.pop(name)
        try:
            os.killpg(process.pid, how)
        except ProcessLookupError:
            pass
        process.wait(timeout=30)

    def stop(self, name: str) -> None:
        """Stop process `name` as a deploy does (TERM, then KILL after 30 s)."""
        process = self.processes.get(name)
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        except ProcessLookupError:
            pass
        self.processes.pop(name, None)

    def redis_start(self) -> None:
        self.redis = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", self.redis_port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("redis-server did not start")

    def redis_stop(self) -> None:
        self.redis.kill()
        self.redis.wait(timeout=30)
        self.redis = None

    def redis_restart_empty(self) -> None:
        """Kill Redis and start it again with nothing in it: every queued message is lost."""
        self.redis_stop()
        self.redis_start()

    def smtp_start(self) -> None:
        from aiosmtpd.controller import Controller

        self.smtp = Controller(self.handler, hostname="127.0.0.1", port=self.smtp_port)
        self.smtp.start()

    def smtp_refuse(self, seconds: float) -> None:
        """Answer every message with 421 for the next `seconds`."""
        self.handler.refuse_until = time.time() + seconds

    def terminate_connections(self) -> int:
        """Terminate every PostgreSQL connection to the pipeline's database (but this one)."""
        return len(
            self.query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                [self.database],
            )
        )

    # Work ---------------------------------------------------------------------------------
    def seed(self, *, lines: int, orders: int, prefix: str = "D") -> float:
        """Make `lines` due lines in `orders` orders (one address each) in one transaction;
        returns the moment they became due (its commit)."""
        run = subprocess.run(
            [sys.executable, __file__, "seed", str(lines), str(orders), prefix],
            cwd=ROOT,
            env=self.environment,
            capture_output=True,
            text=True,
            check=False,
        )
        if run.returncode:
            raise RuntimeError(run.stderr[-3000:])
        return float(run.stdout.strip().splitlines()[-1])

    def query(self, sql: str, params=None) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.database_url.replace("postgres://", "postgresql://", 1)) as conn:
            return conn.execute(sql, params).fetchall()

    def addresses(self, prefix: str = "") -> set[str]:
        return {
            row[0].lower()
            for row in self.query(
                "SELECT e.email FROM orders_orderemail e JOIN orders_salesorder o "
                "ON o.id = e.order_id WHERE o.order_number LIKE %s",
                [prefix + "%"],
            )
        }

    def accepted(self) -> list[Accepted]:
        with self.handler.lock:
            return list(self.handler.accepted)

    def in_flight(self) -> dict[str, int]:
        """What is not finished: open lines, certificates and emails still queued or at work."""
        [(lines, certificates, deliveries)] = self.query(
            "SELECT (SELECT count(*) FROM orders_orderline WHERE status <> 'fulfilled'), "
            "(SELECT count(*) FROM entitlements_certificate WHERE status = ANY(%s)), "
            "(SELECT count(*) FROM outbox_delivery WHERE status = ANY(%s))",
            [list(IN_FLIGHT_CERTIFICATES), list(IN_FLIGHT_DELIVERIES)],
        )
        return {"lines": lines, "certificates": certificates, "emails": deliveries}

    def wait(self, *, addresses: set[str], timeout: float, check=None) -> float:
        """Wait until each of `addresses` has had an email accepted and nothing is in flight;
        returns when the last of them was accepted. `check` is called every second (to fail
        early when a process died)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            received = {a.recipient for a in self.accepted()}
            if addresses <= received and not any(self.in_flight().values()):
                return max(a.at for a in self.accepted() if a.recipient in addresses)
            if check:
                check()
            time.sleep(1.0)
        raise TimeoutError(
            f"after {timeout:.0f} s: {len(addresses - received)} of {len(addresses)} addresses "
            f"without their email; in flight: {self.in_flight()}; logs in {self.logs}"
        )

    def alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} ended ({process.returncode}); see {self.logs}")

    # Figures ------------------------------------------------------------------------------
    def figures(self, due: float, *, addresses: set[str]) -> dict:
        """Time from due to the last email, each email's lag, and each stage's throughput."""
        mails = [a for a in self.accepted() if a.recipient in addresses]
        lags = sorted(a.at - due for a in mails)
        [(shipped, first_shipped, last_shipped)] = self.query(
            "SELECT count(*), extract(epoch FROM min(fulfilled_at)), "
            "extract(epoch FROM max(fulfilled_at)) FROM orders_orderline WHERE status = 'fulfilled'"
        )
        [(rendered, first_rendered, last_rendered)] = self.query(
            "SELECT count(*), extract(epoch FROM min(rendered_at)), "
            "extract(epoch FROM max(rendered_at)) FROM entitlements_certificate "
            "WHERE status = 'ready'"
        )
        # A render takes its certificate under a lease and counts an attempt: a certificate
        # rendered twice (its task handed out twice, a lease run out) has two.
        [(rendered_again, most_renders)] = self.query(
            "SELECT count(*) FILTER (WHERE attempts > 1), coalesce(max(attempts), 0) "
            "FROM entitlements_certificate"
        )
        first_mail, last_mail = min(a.at for a in mails), max(a.at for a in mails)

        def rate(count, start, end):
            return count / max(float(end) - float(start), 1e-3)

        return {
            "lines": shipped,
            "emails": len(mails),
            "due_to_last_email": last_mail - due,
            "lag_p50": statistics.median(lags),
            "lag_p95": lags[min(len(lags) - 1, int(round(0.95 * (len(lags) - 1))))],
            "lag_max": lags[-1],
            "due_to_first_shipped": float(first_shipped) - due,
            "fulfil_rate": rate(shipped, first_shipped, last_shipped),
            "fulfil_seconds": float(last_shipped) - float(first_shipped),
            "render_rate": rate(rendered, first_rendered, last_rendered),
            "render_seconds": float(last_rendered) - float(first_rendered),
            "email_rate": rate(len(mails), first_mail, last_mail),
            "email_seconds": last_mail - first_mail,
            "certificates_rendered_again": rendered_again,
            "most_renders_of_a_certificate": most_renders,
        }


def _seed(lines: int, orders: int, prefix: str) -> None:
    """Make the due lines, in one transaction, and print the time it committed."""
    import django

    django.setup()
    from django.db import transaction

    from apps.accounts.models import Account
    from apps.catalog.models import Product
    from apps.core.dates import business_today
    from apps.orders.models import AccountRole, OrderAccount, OrderEmail, OrderLine, SalesOrder

    per_order = max(1, lines // orders)
    with transaction.atomic():
        product, _ = Product.objects.get_or_create(
            sku="DAY-TD",
            defaults=dict(
                name="Threat Defense Subscription",
                description="Intrusion prevention for one gateway.",
                license_type="subscription",
                term_months=12,
                instructions_url="https://docs.keyship.example/td",
            ),
        )
        customer, _ = Account.objects.get_or_create(
            account_id="0100012345", defaults={"name": "Northwind Networks"}
        )
        partner, _ = Account.objects.get_or_create(
            account_id="0200054321", defaults={"name": "Blue Harbor Integrators", "kind": "partner"}
        )
        made = SalesOrder.objects.bulk_create(
            SalesOrder(order_number=f"{prefix}{n:06d}") for n in range(orders)
        )
        OrderAccount.objects.bulk_create(
            OrderAccount(order=o, account=a, role=r)
            for o in made
            for a, r in ((customer, AccountRole.END_CUSTOMER), (partner, AccountRole.PARTNER))
        )
        OrderEmail.objects.bulk_create(
            OrderEmail(order=o, email=f"buyer-{o.order_number.lower()}@example.com") for o in made
        )
        OrderLine.objects.bulk_create(
            OrderLine(
                order=o,
                line_number=n,
                product=product,
                quantity=1,
                requested_ship_date=business_today(),
            )
            for o in made
            for n in range(1, per_order + 1)
        )
    print(time.time())


if __name__ == "__main__":
    if sys.argv[1:2] == ["seed"]:
        sys.path.insert(0, str(ROOT))
        _seed(int(sys.argv[2]), int(sys.argv[3]), re.sub(r"[^A-Z0-9]", "", sys.argv[4].upper()))
