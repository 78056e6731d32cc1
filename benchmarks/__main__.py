"""Run the benchmarks: ``python -m benchmarks [--only staging,...]`` (see ``PARTS``).

``hostile`` runs in this process, with no stack; ``stack_up`` brings fresh stacks up;

``staging``, ``memory``, ``incremental``, ``rematch`` and ``catalogue`` run on a stack of
PostgreSQL and S3 only;
``latency``, ``backfill`` and ``health`` on a second, full stack with Airflow
(``airflow_stack``); ``big_day`` and ``month`` on stacks of their own, through ``sparkify
demo``'s own path (``big_day``, ``month``).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks import common

RESULTS = Path(__file__).with_name("results.json")
EVENTS_PER_HOUR = 10  # small: the Airflow parts measure the scheduler, not the data
STACK_PARTS = ("staging", "memory", "incremental", "rematch", "catalogue")
AIRFLOW_PARTS = ("latency", "backfill", "health")
DEMO_PARTS = ("big_day", "month", "freshness")
LOCAL_PARTS = ("hostile",)  # no stack: in this process
UP_PARTS = ("stack_up",)  # fresh stacks of its own, brought up and down
PARTS = (*LOCAL_PARTS, *UP_PARTS, *STACK_PARTS, *AIRFLOW_PARTS, *DEMO_PARTS)
# Keys left out of the printed table (nested detail; it is in results.json).
DETAIL = (
    "machine", "staging_runs", "latency_samples", "latency_profile", "backfill_profile",
    "health_runs", "rematch_runs", "big_day_seconds", "big_day_options", "big_day_exact",
    "big_day_profile", "big_day_demo_1m", "songs_catalogue_runs", "month_backfill_s_by_grain",
    "freshness_options", "hostile_parse_us",
)  # fmt: skip


def machine() -> dict[str, str]:
    import os

    return {
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated parts")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--latency-hours", type=int, default=3, help="hours run one by one for latency"
    )
    parser.add_argument(
        "--backfill-hours",
        type=int,
        default=12,
        help="partitions backfilled, ours and the floor (168 = 7 days: about an hour here)",
    )
    parser.add_argument(
        "--backfill-grain",
        choices=("hour", "day", "range"),
        default="hour",
        help="one run per hour (default: the live schedule's grain), day, or the whole range",
    )
    parser.add_argument(
        "--big-day-events-per-hour",
        type=float,
        default=None,
        help="mean events an hour of the big day (default: about a million a day)",
    )
    parser.add_argument(
        "--month-grains",
        default="range,day",
        help="grains the month is backfilled by, each on a fresh stack (default range,day)",
    )
    parser.add_argument(
        "--airflow-env",
        action="append",
        default=[],
        metavar="AIRFLOW__SECTION__KEY=VALUE",
        help="an Airflow setting for the latency/backfill stack (repeatable)",
    )
    args = parser.parse_args()
    parts = [p for p in args.only.split(",") if p]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    console = Console()
    results: dict = {"machine": machine()}
    started = time.perf_counter()
    if "hostile" in parts:
        from benchmarks import hostile

        console.print("hostile lines: the parser per class, the splitter without newlines ...")
        results.update(hostile.run(args.repeats))
    if "stack_up" in parts:
        from benchmarks import stack_up

        console.print("stack up from a fresh state folder: without, then with the template ...")
        results.update(stack_up.run(echo=console.print))
    if any(p in parts for p in STACK_PARTS):
        run_stack_parts(parts, args, results, console)
    if any(p in parts for p in AIRFLOW_PARTS):
        airflow_env = dict(item.split("=", 1) for item in args.airflow_env)
        run_airflow_parts(parts, args, results, console, airflow_env)
    if "big_day" in parts:
        run_big_day(args, results, console)
    if "month" in parts:
        run_month(args, results, console)
    if "freshness" in parts:
        from benchmarks import freshness

        console.print("freshness on the event path: three minutes of live objects ...")
        results.update(freshness.run(echo=console.print))
    results["seconds"] = round(time.perf_counter() - started, 1)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    previous.update(results)
    RESULTS.write_text(json.dumps(previous, indent=2, sort_keys=True) + "\n")
    table = Table(
        title=f"Sparkify benchmarks ({results['machine']['cpu']}, "
        f"{results['machine']['cores']} cores)"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in sorted(results.items()):
        if key not in DETAIL:
            table.add_row(key, str(value))
    console.print(table)
    console.print(f"written to {RESULTS}")
    return 0


def run_airflow_parts(parts, args, results: dict, console, airflow_env: dict[str, str]) -> None:
    from benchmarks.airflow_stack import airflow_stack

    console.print("full stack with Airflow (latency, backfill) ...")
    with airflow_stack(
        days=max(1, -(-args.backfill_hours // 24)),
        events_per_hour=EVENTS_PER_HOUR,
        airflow_env=airflow_env,
        echo=console.print,
    ) as live:
        # Always written, so that a run with the stack's own settings ({}) replaces the
        # record of an earlier run's overrides.
        results["airflow_env"] = airflow_env
        if "latency" in parts:
            from benchmarks import latency

            console.print(f"trigger latency, {args.latency_hours} hours one by one ...")
            results.update(latency.run(live.client, hours=args.latency_hours, echo=console.print))
        if "backfill" in parts:
            from benchmarks import throughput

            console.print(
                f"backfill throughput, {args.backfill_hours} partitions, and the floor ..."
            )
            results.update(
                throughput.run(
                    live.client,
                    hours=args.backfill_hours,
                    grain=args.backfill_grain,
                    echo=console.print,
                )
            )
        if "health" in parts:
            from benchmarks import health

            console.print("health page for a year of hourly partitions ...")
            results.update(health.run(live, repeats=args.repeats, echo=console.print))


def run_month(args, results: dict, console) -> None:
    from benchmarks import month

    grains = [g for g in args.month_grains.split(",") if g]
    console.print(f"a month at the real data's density, by {', '.join(grains)} ...")
    earlier = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    known = {**earlier, **results}
    results.update(
        month.run(
            grains,
            partitions_per_minute=known.get("partitions_per_minute"),
            echo=console.print,
        )
    )


def run_big_day(args, results: dict, console) -> None:
    from benchmarks import big_day

    per_hour = args.big_day_events_per_hour or common.EVENTS_PER_HOUR_1M
    console.print(f"the big day, {per_hour:,.0f} events an hour, through all four DAGs ...")
    earlier = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    floor = big_day.floor_durations({**earlier, **results})
    results.update(big_day.run(events_per_hour=per_hour, floor=floor, echo=console.print))


def run_stack_parts(parts, args, results: dict, console) -> None:
    with common.bench_stack() as stack, tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        work = Path(tmp)
        s3 = common.s3_client()
        common.create_schema(common.connect(stack))
        if "staging" in parts or "memory" in parts:
            console.print("generating a 1M-event object and a 4x one ...")
            one, _lines_1x = common.events_file(work, 1)
            s3.upload_file(str(one), stack.bucket, "bench/events-1x.json")
        if "staging" in parts:
            console.print("staging throughput ...")
            from benchmarks import staging

            results.update(staging.run(stack, "bench/events-1x.json", args.repeats))
        if "memory" in parts:
            four, _lines_4x = common.events_file(work, 4, seed=8)
            s3.upload_file(str(four), stack.bucket, "bench4/events-4x.json")
            console.print("memory ...")
            from benchmarks import memory

            results.update(memory.run(stack, "bench/events-1x.json", "bench4/events-4x.json"))
        if "incremental" in parts:
            console.print("incremental cost ...")
            from benchmarks import incremental

            results.update(incremental.run(stack))
        if "rematch" in parts:
            console.print("re-match cost, 10k and 1M unmatched plays in history ...")
            from benchmarks import rematch

            results.update(rematch.run(stack, args.repeats))
        if "catalogue" in parts:
            console.print("song catalogue cost, 100 new songs on 10k and 1M loaded ...")
            from benchmarks import catalogue

            results.update(catalogue.run(stack, args.repeats))


if __name__ == "__main__":
    raise SystemExit(main())
