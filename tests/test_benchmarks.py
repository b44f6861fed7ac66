"""Every benchmark runs at a tiny size, so that a change of schema or of a service's arguments
cannot break one silently: each must finish and print its table. The figures are not checked
here (timed tests flake on shared machines); `make bench-*` measures them at full size."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.conf import settings

BENCHMARKS = Path(settings.BASE_DIR) / "benchmarks"
# The smallest sizes at which every step still has rows to time.
TINY = {
    "admin_changelists.py": {"BENCH_ROWS": "2000", "BENCH_FRESH": "1"},
    "fulfillment.py": {"BENCH_LINES": "100", "BENCH_CERTIFICATES": "12"},
    "dashboard.py": {"BENCH_ROWS": "2000", "BENCH_QUEUED": "500", "BENCH_LOADS": "3"},
    # The worker and beat as processes: about a minute and a half, most of it waiting for
    # beat's first sweep.
    "day.py": {"BENCH_LINES": "20"},
    "portal.py": {"BENCH_ROWS": "2000", "BENCH_REQUESTS": "3", "BENCH_FRESH": "1"},
    "seats.py": {"BENCH_ROWS": "2000", "BENCH_REQUESTS": "3", "BENCH_FRESH": "1"},
}
# The most queries a page of these may run (the target for the portal).
QUERY_LIMITS = {"portal.py": 8, "seats.py": 8}
# Modules the benchmarks share, not benchmarks themselves.
HELPERS = {"scratch_database.py", "pipeline.py", "portal_database.py"}


def _drop(database: str) -> None:
    parts = urlsplit(os.environ["DATABASE_URL"])
    server = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def test_every_benchmark_is_run_here():
    assert sorted(TINY) == sorted(
        path.name for path in BENCHMARKS.glob("*.py") if path.name not in HELPERS
    )


@pytest.mark.postgres
@pytest.mark.parametrize("script", sorted(TINY))
def test_the_benchmark_runs_at_a_tiny_size(script):
    database = f"keyship_bench_tiny_{Path(script).stem}_{os.getpid()}"
    environment = {**os.environ, **TINY[script], "BENCH_DATABASE": database}
    environment.pop("DJANGO_SETTINGS_MODULE", None)  # each benchmark names its own settings
    try:
        run = subprocess.run(
            [sys.executable, str(BENCHMARKS / script)],
            env=environment,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        _drop(database)
        (BENCHMARKS / f".{database}_code").unlink(missing_ok=True)
    assert run.returncode == 0, run.stderr[-3000:]
    table = [line for line in run.stdout.splitlines() if line.startswith("| ")]
    assert len(table) >= 3, run.stdout[-3000:]
    if script in QUERY_LIMITS:
        # The portal's pages run a fixed number of queries, whatever the rows: at a tiny size
        # as at a million (the figures are not checked here, the query counts are).
        heading = [cell.strip() for cell in table[0].strip("|").split("|")]
        column = heading.index("queries")
        for line in table[1:]:
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            assert int(cells[column]) <= QUERY_LIMITS[script], line
