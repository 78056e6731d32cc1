"""``Stack.down``: stop every process the stack started, by PID, phase by phase
(``parts.stop_phases``), PostgreSQL last by ``pg_ctl``; ``purge`` deletes the state."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterable

from sparkify.errors import CliError
from sparkify.local.stack import parts as stack_parts
from sparkify.local.stack import process as proc
from sparkify.local.stack.config import StackError
from sparkify.local.stack.state import StackState

# What ``purge`` deletes: a state directory holding anything else is not a stack's.
STATE_CONTENTS = {
    "stack.json", "stack.lock", "logs", "run", "pg", "airflow", "demo-data", "redis",
    "report.html",  # the demo's partition health report (sparkify.local.demo)
}  # fmt: skip


class Shutdown(StackState):
    """``down`` of ``Stack``."""

    def down(
        self,
        *,
        purge: bool = False,
        timeout: float = 30.0,
        echo: Callable[[str], None] = lambda _msg: None,
    ) -> None:
        """Stop every process the stack started, by PID; ``purge`` deletes the state dir."""
        if not self.state_dir.exists():
            return
        if not self.config_path.exists() and not self.run_dir.exists():
            if purge:
                self._purge()  # refuses: nothing here says it is a stack's
            return
        with self._lock():
            survivors = []
            all_parts = self.parts()
            for phase in self._stop_phases(all_parts):
                sids, whole = [], []
                for name in phase:
                    if (pid := proc.owned_session(self._pid_path(name))) is not None:
                        echo(f"{name}: stopping (pid {pid})")
                        sids.append(pid)
                        if stack_parts.part(name).whole_session:
                            whole.append(pid)
                survivors += proc.terminate_sessions(sids, timeout=timeout, whole=whole)
            survivors += self._down_postgres(timeout, echo)
            for child in self._children.values():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=1)  # reap, so no zombie is left in this process
            self._children.clear()
            if survivors:
                pids = ", ".join(str(p.pid) for p in survivors)
                raise StackError(f"Processes would not stop: {pids}")
            for name in all_parts:
                self._pid_path(name).unlink(missing_ok=True)
            if (cfg := self._read_config()) is not None:
                cfg["components"] = []
                cfg.pop("executor", None)  # the next ``up`` starts with the default again
                cfg.pop("workers", None)
                self._save_config(cfg)
        if purge:
            self._purge()

    @staticmethod
    def _stop_phases(names: Iterable[str]) -> list[tuple[str, ...]]:
        return stack_parts.stop_phases(names)

    def _down_postgres(self, timeout: float, echo) -> list:
        cfg = self._read_config() or {"ports": {"postgres": 0}}
        cluster = self._postgres(cfg)
        pid = self.pid("postgres") or cluster.postmaster_pid()
        if pid is None or not proc.is_running(pid):
            return []
        echo(f"postgres: stopping (pid {pid})")
        tree = proc.process_tree(pid)
        try:
            cluster.stop()
        except CliError as exc:
            echo(f"postgres: pg_ctl stop failed ({exc}); terminating pid {pid}")
            import signal

            os.kill(pid, signal.SIGINT)  # what pg_ctl -m fast sends
        return proc.wait_gone(tree, timeout)

    def _purge(self) -> None:
        contents = {p.name for p in self.state_dir.iterdir()}
        if "stack.json" not in contents or not contents <= STATE_CONTENTS:
            raise StackError(
                f"Not purging {self.state_dir}: it does not look like a stack state directory"
            )
        socket_dir = self._postgres({"ports": {"postgres": 0}}).socket_dir
        if not socket_dir.is_relative_to(self.state_dir):
            shutil.rmtree(socket_dir, ignore_errors=True)  # the short fallback under /tmp
        shutil.rmtree(self.state_dir)
