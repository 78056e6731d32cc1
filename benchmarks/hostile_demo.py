"""The hostile days through ``sparkify demo``, against the same days without them.

Two generated days (``sparkify generate``), and the same days with the hostile lines that
``generate --dirty --hostile`` writes for them *added* (the rejected kinds only, so that the
clean events are all still there): each runs through ``sparkify demo --source DIR`` on a
fresh stack, on each warehouse asked for. Printed and returned: every line accounted for
(read = staged + rejected + duplicate, the rejects exactly the added lines), the runs of each
DAG by state, and whether the star tables equal those of the clean days.

    python -m benchmarks.hostile_demo [--seed 5] [--warehouses postgres,redshift]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

from sparkify.local.generate.dataset import generate
from sparkify.local.generate.dirty import HOSTILE_KINDS

START = date(2018, 11, 5)


def hostile_days(work: Path, seed: int, days: int) -> tuple[Path, Path, Counter]:
    """The clean days, and a copy with the hostile rejected lines added; their reasons."""
    clean, dirty, hostile = work / "clean", work / "dirty", work / "hostile"
    generate(clean, start=START, days=days, seed=seed)
    manifest = generate(dirty, start=START, days=days, seed=seed, dirty=0.1, hostile=True)
    shutil.copytree(clean, hostile)
    reasons: Counter = Counter()
    added: dict[str, list[bytes]] = {}
    for d in manifest["defects"]:
        if d["kind"] in HOSTILE_KINDS and d["outcome"] == "rejected":
            line = (dirty / d["file"]).read_bytes().split(b"\n")[d["line"] - 1]
            added.setdefault(d["file"], []).append(line)
            reasons[d["reason"]] += 1
    for file, lines in added.items():
        path = hostile / file
        body = path.read_bytes()
        path.write_bytes(body + (b"" if body.endswith(b"\n") else b"\n") + b"\n".join(lines))
    return clean, hostile, reasons


def demo(source: Path, warehouse: str, out: Path) -> tuple[dict, float]:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "sparkify.cli.main", "demo", "--source", str(source),
         "--warehouse", warehouse, "--json", str(out), "--down", "--quiet"],
        check=False,
    )  # fmt: skip
    return json.loads(out.read_text()), round(time.perf_counter() - started, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--warehouses", default="postgres,redshift")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        work = Path(tmp)
        clean, hostile, reasons = hostile_days(work, args.seed, args.days)
        print(f"hostile lines added: {sum(reasons.values())} {dict(reasons)}")
        for warehouse in args.warehouses.split(","):
            base, base_s = demo(clean, warehouse, work / f"clean-{warehouse}.json")
            got, got_s = demo(hostile, warehouse, work / f"hostile-{warehouse}.json")
            lines = got["lines"]
            result = {
                "seconds": {"clean": base_s, "hostile": got_s},
                "lines": lines,
                "accounted": lines["read"]
                == lines["staged"] + lines["rejected"] + lines["duplicate"],
                "rejected_added": lines["rejected"] - base["lines"]["rejected"],
                "hostile_lines": sum(reasons.values()),
                "runs": got["runs"],
                "checks": got["checks"],
                "tables_equal_clean": got["tables"] == base["tables"],
                "tables": got["tables"],
            }
            results[warehouse] = result
            print(warehouse, json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
