"""Run the benchmarks: ``python -m benchmarks [--only staging,memory,incremental]``."""

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
PARTS = ("staging", "memory", "incremental")


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
    args = parser.parse_args()
    parts = [p for p in args.only.split(",") if p]
    console = Console()
    results: dict = {"machine": machine()}
    started = time.perf_counter()
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
        if key not in ("machine", "staging_runs"):
            table.add_row(key, str(value))
    console.print(table)
    console.print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
