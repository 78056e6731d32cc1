"""Airflow's processes forked from one that has imported Airflow already.

Each Airflow process spends its first seconds importing Airflow (``import airflow`` is some
2.8 s of CPU here); four of them starting side by side on two cores spent the stack's start
doing that four times over. The zygote imports it once, while PostgreSQL and the metadata
database are still being made, waits for ``up`` to say the database is ready (the ``go``
file), then forks each part: a child becomes the leader of a session of its own, with its
own log, its own environment and its own process title, and runs Airflow's command line as
``python -m airflow`` would, so each part is still what ``sparkify.local.stack.process``
expects (its PID is its session id; stopping it signals that session). The zygote writes
each part's pid file, reaps its children as they exit, and exits when none is left.

``python -m sparkify.local.stack.zygote SPEC``: ``SPEC`` is a JSON file written by ``up``
(``Spec``): the go file, how long to wait for it, and per part its Airflow arguments, log,
pid file and working directory. Everything else (secrets included) comes in the
environment, as for a part started on its own.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import TypedDict

from sparkify.local.stack import process as proc


class PartSpec(TypedDict):
    name: str
    args: list[str]  # Airflow's command line after ``airflow``
    log: str
    pid_file: str
    cwd: str


class Spec(TypedDict):
    go: str
    timeout: float
    parts: list[PartSpec]


POLL_S = 0.05


def preload() -> None:
    """What every Airflow process imports before it does anything of its own."""
    import airflow.__main__  # noqa: F401  (Airflow, its settings and its command line)


def wait_for(go: Path, timeout: float) -> bool:
    """Wait for the file ``go``; False after ``timeout`` seconds, or when the process that
    started this one is gone (an ``up`` that failed before the database was ready)."""
    parent = os.getppid()
    deadline = time.monotonic() + timeout
    while not go.exists():
        if time.monotonic() > deadline or os.getppid() != parent:
            return False
        time.sleep(POLL_S)
    return True


def _become(part: PartSpec) -> int:
    """In the child: become the part (a session of its own, its log) and run it."""
    os.setsid()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    os.chdir(part["cwd"])
    log = proc.open_private(Path(part["log"]), os.O_WRONLY | os.O_APPEND)
    os.write(log, proc.log_header(part["name"]).encode())
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(devnull)
    os.close(log)
    # Whatever wrote to this process's streams before writes to the log now.
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    try:
        import setproctitle

        setproctitle.setproctitle(f"airflow {' '.join(part['args'])}")
    except ImportError:
        pass
    from airflow.__main__ import main

    sys.argv = ["airflow", *part["args"]]
    try:
        main()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def fork_parts(spec: Spec) -> dict[str, int]:
    """Fork every part of ``spec``; returns their PIDs by name (pid files written)."""
    pids: dict[str, int] = {}
    for part in spec["parts"]:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _become(part)
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        proc.write_pid(Path(part["pid_file"]), pid)
        pids[part["name"]] = pid
    return pids


def reap(pids: dict[str, int]) -> None:
    """Wait for every child, saying how each ended; return when none is left."""
    names = {pid: name for name, pid in pids.items()}
    while names:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return
        except InterruptedError:
            continue
        name = names.pop(pid, str(pid))
        print(f"zygote: {name} (pid {pid}) exited, status {status}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    spec: Spec = json.loads(Path(args[0]).read_text())
    started = time.monotonic()
    preload()
    print(f"zygote: Airflow imported in {time.monotonic() - started:.1f}s", flush=True)
    if not wait_for(Path(spec["go"]), spec["timeout"]):
        print("zygote: the metadata database was never ready; no part started", flush=True)
        return 1
    pids = fork_parts(spec)
    print(f"zygote: started {pids}", flush=True)
    reap(pids)
    return 0


if __name__ == "__main__":
    sys.exit(main())
