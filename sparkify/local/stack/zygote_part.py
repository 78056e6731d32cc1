"""``up``'s handle on the zygote (``sparkify.local.stack.zygote``): start it, release it
once the metadata database is ready, or stop it when ``up`` fails before that."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparkify.local.stack import parts as stack_parts
from sparkify.local.stack import process as proc
from sparkify.local.stack.config import StackError

if TYPE_CHECKING:
    from sparkify.local.stack.state import StackState

NAME = "zygote"
AIRFLOW_MODULE = [sys.executable, "-m", "airflow"]


def _spec_path(go: Path) -> Path:
    """Where the zygote's ``Spec`` is written, beside its go file."""
    return go.with_name(go.name + ".json")


class Zygote:
    def __init__(self, stack: StackState, names: list[str], popen: subprocess.Popen, go: Path):
        self.stack, self.names, self.popen, self.go = stack, names, popen, go
        self.spec = _spec_path(go)

    @classmethod
    def start(
        cls,
        stack: StackState,
        cfg: dict[str, Any],
        names: Iterable[str],
        *,
        env: Mapping[str, str],
        timeout: float,
    ) -> Zygote:
        """Start the zygote for the Airflow parts ``names`` (each started by
        ``python -m airflow ...``, its ``Part.command``)."""
        names = list(names)
        go = proc.private_dir(stack.run_dir) / f"airflow-go.{os.getpid()}"
        go.unlink(missing_ok=True)
        parts = []
        for name in names:
            part = stack_parts.part(name)
            if part.env(cfg):  # a fork shares the zygote's environment, and nothing else
                raise StackError(f"{name} has an environment of its own: start it on its own")
            cmd = part.command(cfg, stack.state_dir)
            if cmd[: len(AIRFLOW_MODULE)] != AIRFLOW_MODULE:
                raise StackError(f"{name} is not an Airflow command line: {cmd}")
            parts.append(
                {
                    "name": name,
                    "args": cmd[len(AIRFLOW_MODULE) :],
                    "log": str(stack.log_path(name)),
                    "pid_file": str(stack._pid_path(name)),
                    "cwd": str(stack.state_dir),
                }
            )
        spec = _spec_path(go)
        with os.fdopen(proc.open_private(spec), "w") as fh:
            json.dump({"go": str(go), "timeout": timeout, "parts": parts}, fh)
        popen = proc.spawn(
            NAME,
            [sys.executable, "-m", "sparkify.local.stack.zygote", str(spec)],
            env=env,
            log_path=stack.log_path(NAME),
            cwd=stack.state_dir,
        )
        stack._children[NAME] = popen
        return cls(stack, names, popen, go)

    def release(self, deadline: float, echo: Callable[[str], None]) -> None:
        """Say the metadata database is ready; wait until every part runs."""
        with os.fdopen(proc.open_private(self.go), "w"):
            pass
        try:
            while (waiting := [n for n in self.names if self.stack.pid(n) is None]) and (
                self.popen.poll() is None
            ):
                if time.monotonic() > deadline:
                    raise self.stack._fail(NAME, f"did not start {', '.join(waiting)}")
                time.sleep(0.02)
            for name in self.names:
                if (pid := self.stack.pid(name)) is None:
                    raise self.stack._fail(NAME, f"exited before starting {name}")
                echo(f"{name}: started (pid {pid}, forked from the zygote)")
        finally:
            self._clean()

    def stop(self) -> None:
        """Stop a zygote that was never released (``up`` failed before that)."""
        if self.popen.poll() is None:
            self.popen.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=5)
            if self.popen.poll() is None:
                self.popen.kill()
                self.popen.wait(timeout=5)
        self._clean()

    def _clean(self) -> None:
        self.go.unlink(missing_ok=True)
        self.spec.unlink(missing_ok=True)
