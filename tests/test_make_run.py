"""`make run` on another port (`PORT=9000 make run`): the links in the demo's emails and the
demo's webhook endpoint point at the port it serves on, not at 8000 where nothing listens.

The Makefile runs here with a stand-in `.venv` whose python and honcho only write down the
environment they were started with.
"""

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

STAND_IN = """#!/bin/sh
echo "$(basename "$0") $* SITE_URL=$SITE_URL" >> "{log}"
"""

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _make_run(tmp_path: Path, **env) -> list[str]:
    log = tmp_path / "started.log"
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "honcho"):
        stand_in = bin_dir / name
        stand_in.write_text(STAND_IN.format(log=log))
        stand_in.chmod(stand_in.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "scripts").mkdir()
    for name in ("pyproject.toml", "scripts/system-packages"):
        (tmp_path / name).write_text("")
    (tmp_path / "var").mkdir()
    os.utime(tmp_path / "scripts/system-packages", (1, 1))
    os.utime(tmp_path / "pyproject.toml", (1, 1))
    (tmp_path / ".venv" / ".installed").write_text("")  # installed: nothing to do
    environment = {k: v for k, v in os.environ.items() if k not in {"SITE_URL", "PORT"}}
    subprocess.run(
        ["make", "-s", "-f", str(ROOT / "Makefile"), "-C", str(tmp_path), "run"],
        env={**environment, **env},
        check=True,
        capture_output=True,
        timeout=60,
    )
    return log.read_text().splitlines()


def test_the_demo_links_to_the_port_it_serves_on(tmp_path):
    started = _make_run(tmp_path, PORT="9000")

    seed = next(line for line in started if "seed_demo" in line)
    assert seed.endswith("SITE_URL=http://127.0.0.1:9000")
    served = next(line for line in started if line.startswith("honcho"))
    assert "--port 9000" in served and served.endswith("SITE_URL=http://127.0.0.1:9000")


def test_a_site_url_of_ones_own_is_kept(tmp_path):
    started = _make_run(tmp_path, PORT="9000", SITE_URL="http://keyship.test:9000")

    assert all(line.endswith("SITE_URL=http://keyship.test:9000") for line in started)
