"""A day's volume through the whole pipeline: the Procfile's worker and beat as processes.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres make bench-day
    python benchmarks/day.py 2000 5000 10000      # line counts, four lines per order
    BENCH_LINES=20 python benchmarks/day.py        # the same, from the environment

For each size, a fresh database `keyship_bench_day` (BENCH_DATABASE), a Redis and an SMTP
server of its own (benchmarks/pipeline.py): the lines are made due at one instant, beat's
sweep ships them, the worker renders the certificates and sends one Fulfillment Email per
order to the SMTP server, which notes when it accepted each. Prints, per size: the time from
due to the last email accepted, the p50/p95/max of each email's lag after the due instant,
each stage's throughput (lines shipped, certificates rendered, emails accepted per second,
over the stage's own first-to-last window), and how many certificates were rendered more
than once (none should be).
"""

import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import Pipeline  # noqa: E402

NAME = os.environ.get("BENCH_DATABASE", "keyship_bench_day")
LINES_PER_ORDER = 4
# Beat's sweep runs once a minute, then rendering takes about a tenth of a second per line
# per core: a generous bound, so that a stalled run ends with its logs instead of hanging.
TIMEOUT_BASE, TIMEOUT_PER_LINE = 300, 0.5


def run(lines: int) -> dict:
    orders = max(1, lines // LINES_PER_ORDER)
    with Pipeline(NAME) as pipeline:
        pipeline.start("worker", "beat")
        time.sleep(5)  # the processes' own start is not part of the day
        due = pipeline.seed(lines=lines, orders=orders)
        addresses = pipeline.addresses()
        pipeline.wait(
            addresses=addresses,
            timeout=TIMEOUT_BASE + TIMEOUT_PER_LINE * lines,
            check=pipeline.alive,
        )
        figures = pipeline.figures(due, addresses=addresses)
        figures["orders"] = orders
    return figures


def main() -> None:
    # Stopped from outside, it still stops the processes it started (Pipeline.__exit__).
    signal.signal(signal.SIGTERM, lambda *args: sys.exit(1))
    sizes = [int(arg) for arg in sys.argv[1:] or os.environ.get("BENCH_LINES", "").split()]
    sizes = sizes or [2_000, 5_000, 10_000]
    rows = []
    for lines in sizes:
        figures = run(lines)
        rows.append(figures)
        print(
            f"{lines:,} lines: last email {figures['due_to_last_email']:.0f} s after due",
            flush=True,
        )
    print()
    print(
        "| lines | emails | due to last email | lag p50 | lag p95 | lag max "
        "| due to first shipped | ship | render | send | rendered twice |"
    )
    print("| ---: " * 11 + "|")
    for f in rows:
        print(
            f"| {f['lines']:,} | {f['emails']:,} | {f['due_to_last_email']:.0f} s "
            f"| {f['lag_p50']:.0f} s | {f['lag_p95']:.0f} s | {f['lag_max']:.0f} s "
            f"| {f['due_to_first_shipped']:.0f} s "
            f"| {f['fulfil_rate']:,.0f} lines/s ({f['fulfil_seconds']:.1f} s) "
            f"| {f['render_rate']:,.1f} certificates/s ({f['render_seconds']:.0f} s) "
            f"| {f['email_rate']:,.1f} emails/s ({f['email_seconds']:.0f} s) "
            f"| {f['certificates_rendered_again']:,} |"
        )


if __name__ == "__main__":
    main()
