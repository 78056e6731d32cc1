"""Process bookkeeping (``sparkify.local.stack.process``): pid files, sessions, ports,
sockets, private directories."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import psutil

from sparkify.local.stack import process as stack_process
from tests.unit.test_stack_state import mode_of


def test_port_is_free_sees_a_listener_but_not_time_wait():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert not stack_process.port_is_free(port)
    assert stack_process.port_is_free(port)


def test_pid_file_is_valid_only_for_the_process_it_was_written_for(tmp_path: Path):
    path = tmp_path / "me.pid"
    stack_process.write_pid(path, os.getpid())
    assert stack_process.read_pid(path) == os.getpid()
    pid, since_boot = path.read_text().split()
    # Written for a process started an hour later, since boot:
    path.write_text(f"{pid} {float(since_boot) + 3600:.2f}\n")
    assert stack_process.read_pid(path) is None
    assert "another process" in stack_process.why_not_running(path)
    # An old pid file, the PID alone: its stamp (the start time) decides.
    path.write_text(f"{pid}\n")
    os.utime(path, (time.time() + 3600, time.time() + 3600))  # as if written for a later process
    assert stack_process.read_pid(path) is None
    path.write_text("not a pid")
    assert stack_process.read_pid(path) is None
    assert stack_process.read_pid(tmp_path / "missing.pid") is None


def test_a_clock_step_does_not_make_a_running_part_look_gone(monkeypatch, tmp_path: Path):
    """The wall clock stepped 30 s after the pid file was written (a virtual machine's clock
    corrected after a stall, NTP): the boot time and every start time move with it."""
    path = tmp_path / "me.pid"
    stack_process.write_pid(path, os.getpid())
    real_boot_time = stack_process.psutil.boot_time

    def stepped() -> float:
        return real_boot_time() + 30.0

    monkeypatch.setattr(stack_process.psutil, "boot_time", stepped)
    monkeypatch.setattr(
        stack_process.psutil.Process,
        "create_time",
        lambda self, _real=stack_process.psutil.Process.create_time: _real(self) + 30.0,
    )
    assert stack_process.read_pid(path) == os.getpid()


def test_terminate_sessions_stops_children_that_left_the_process_group(tmp_path: Path):
    # Like Airflow's task supervisors: a grandchild in a process group of its own.
    escapee = (
        "import os, sys, time; os.setpgid(0, 0); "
        "open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(300)"
    )
    marker = tmp_path / "escapee.pid"
    script = f"{sys.executable} -c {escapee!r} {marker} & sleep 300"
    child = stack_process.spawn(
        "test", ["bash", "-c", script], env=os.environ, log_path=tmp_path / "t.log", cwd=tmp_path
    )
    try:
        deadline = time.monotonic() + 10
        while not marker.exists() or not marker.read_text():
            assert time.monotonic() < deadline, "escapee did not start"
            time.sleep(0.05)
        grandchild = int(marker.read_text())
        assert os.getpgid(grandchild) != child.pid
        assert os.getsid(grandchild) == child.pid
        members = {p.pid for p in stack_process.session_members(child.pid)}
        assert {child.pid, grandchild} <= members

        survivors = stack_process.terminate_sessions([child.pid], timeout=5)
        child.wait(timeout=5)

        assert survivors == []
        assert not stack_process.is_running(grandchild)
    finally:
        for proc in stack_process.session_members(child.pid):
            proc.kill()
        child.wait(timeout=5)


def test_listening_sockets_reports_address_and_port():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        found = stack_process.listening_sockets([psutil.Process()])
    assert (os.getpid(), "127.0.0.1", port) in found


def test_private_dir_makes_a_missing_directory_0700_and_leaves_an_existing_one(
    open_umask, tmp_path: Path
):
    made = stack_process.private_dir(tmp_path / "a" / "b")
    assert mode_of(made) == 0o700
    (tmp_path / "c").mkdir(mode=0o750)
    assert mode_of(stack_process.private_dir(tmp_path / "c")) == 0o750
