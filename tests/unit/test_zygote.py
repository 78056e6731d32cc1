"""The zygote: waits for its go file, forks each part as a session of its own with its own
log and pid file, and reaps them."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from sparkify.local.stack import process as proc
from sparkify.local.stack import zygote


def test_it_waits_for_the_go_file(tmp_path):
    go = tmp_path / "go"
    threading.Timer(0.2, go.touch).start()
    started = time.monotonic()
    assert zygote.wait_for(go, timeout=5)
    assert 0.15 < time.monotonic() - started < 4


def test_without_a_go_file_it_gives_up_after_its_timeout(tmp_path):
    started = time.monotonic()
    assert not zygote.wait_for(tmp_path / "never", timeout=0.3)
    assert time.monotonic() - started < 2


def test_a_forked_part_runs_airflows_command_line_in_a_session_and_log_of_its_own(tmp_path):
    from airflow import __version__

    part = {
        "name": "probe",
        "args": ["version"],
        "log": str(tmp_path / "logs" / "probe.log"),
        "pid_file": str(tmp_path / "run" / "probe.pid"),
        "cwd": str(tmp_path),
    }
    (tmp_path / "logs").mkdir()
    pids = zygote.fork_parts({"go": "", "timeout": 1, "parts": [part]})
    pid = pids["probe"]
    assert pid != os.getpid()
    assert Path(part["pid_file"]).read_text().split()[0] == str(pid)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    log = Path(part["log"]).read_text()
    assert "starting probe" in log
    assert __version__ in log
    assert oct(Path(part["log"]).stat().st_mode & 0o777) == oct(0o600)


def test_a_part_whose_command_fails_exits_with_its_status(tmp_path):
    part = {
        "name": "bad",
        "args": ["no-such-command"],
        "log": str(tmp_path / "bad.log"),
        "pid_file": str(tmp_path / "bad.pid"),
        "cwd": str(tmp_path),
    }
    pid = zygote.fork_parts({"go": "", "timeout": 1, "parts": [part]})["bad"]
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) != 0
    assert "no-such-command" in proc.tail(Path(part["log"]))


def test_reaping_returns_when_every_child_is_gone(capsys):
    pids = {}
    for name in ("a", "b"):
        pid = os.fork()
        if pid == 0:
            os._exit(3)
        pids[name] = pid
    zygote.reap(pids)
    out = capsys.readouterr().out
    assert "a (pid" in out
    assert "b (pid" in out
