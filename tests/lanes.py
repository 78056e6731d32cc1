"""``make test``: the test tiers in two lanes side by side, one pytest process each.

The end-to-end tier mostly waits: on Airflow's scheduler, its workers and their polls.
The other tiers mostly compute. So they run at once, each lane with a session stack of its
own (``tests/conftest.py`` keys the stack's folder by process), which also keeps a live
scheduler away from the metadata database the other tiers' ``dag.test()`` runs use.

``python -m tests.lanes [pytest options]``: every option goes to both lanes; a
``--junitxml=PATH`` becomes one report per lane, merged into ``PATH`` at the end. Given test
paths of its own (``make test ARGS=tests/unit/test_x.py``), it runs one pytest with them.
Each lane's output is printed whole when the lane ends, and a line of progress every
``PROGRESS_S`` seconds meanwhile. The exit status is pytest's: the first lane's failure, else
0 (a lane that selected no test, status 5, fails only when both did).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
E2E = "tests/e2e"
PROGRESS_S = 120
NO_TESTS = 5


def lanes() -> list[tuple[str, list[str]]]:
    """(name, test paths): the end-to-end tier, and every other tier."""
    others = sorted(
        f"tests/{d.name}"
        for d in (ROOT / "tests").iterdir()
        if d.is_dir() and d.name != "e2e" and any(d.glob("test_*.py"))
    )
    return [("e2e", [E2E]), ("others", others)]


def _own_paths(args: list[str]) -> bool:
    return any(not a.startswith("-") and (ROOT / a.split("::")[0]).exists() for a in args)


def _split_junit(args: list[str], lane: str) -> tuple[list[str], str | None]:
    out, target = [], None
    for arg in args:
        if arg.startswith("--junitxml="):
            target = arg.split("=", 1)[1]
            arg = f"--junitxml={target}.{lane}"
        out.append(arg)
    return out, target


def merge_junit(parts: list[Path], target: Path) -> None:
    """One ``<testsuites>`` of every lane's suites (a lane that wrote none is left out)."""
    merged = ET.Element("testsuites")
    for part in parts:
        try:
            root = ET.parse(part).getroot()
        except (OSError, ET.ParseError):
            continue
        merged.extend([root] if root.tag == "testsuite" else list(root))
    ET.ElementTree(merged).write(target, encoding="utf-8", xml_declaration=True)


def status_of(codes: list[int]) -> int:
    failed = [c for c in codes if c not in (0, NO_TESTS)]
    if failed:
        return failed[0]
    return NO_TESTS if all(c == NO_TESTS for c in codes) else 0


def _last_line(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - 400))
            tail = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line for line in tail.replace("\r", "\n").split("\n") if line.strip()]
    return lines[-1][-120:] if lines else ""


def main(args: list[str]) -> int:
    if _own_paths(args):
        return subprocess.call([sys.executable, "-m", "pytest", *args], cwd=ROOT)
    started = time.monotonic()
    logs = Path(tempfile.mkdtemp(prefix="sparkify-lanes-"))
    running, reports, target = [], [], None
    for name, paths in lanes():
        lane_args, target = _split_junit(args, name)
        if target:
            reports.append(Path(f"{target}.{name}"))
        log = logs / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "pytest", *paths, *lane_args],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        running.append((name, proc, log))
        print(f"lanes: {name} ({' '.join(paths)}), pid {proc.pid}, output in {log}", flush=True)
    codes: dict[str, int] = {}
    last_report = time.monotonic()
    while len(codes) < len(running):
        for name, proc, log in running:
            if name not in codes and proc.poll() is not None:
                codes[name] = proc.returncode
                elapsed = time.monotonic() - started
                print(f"\n===== lane {name}: exit {proc.returncode} after {elapsed:.0f}s =====")
                print(log.read_text(errors="replace"), flush=True)
        if time.monotonic() - last_report > PROGRESS_S:
            last_report = time.monotonic()
            for name, _proc, log in running:
                if name not in codes:
                    print(f"lanes: {name} running: {_last_line(log)}", flush=True)
        time.sleep(1)
    if target:
        merge_junit(reports, Path(target))
    print(f"lanes: {codes} in {time.monotonic() - started:.0f}s", flush=True)
    return status_of([codes[name] for name, _p, _l in running])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
