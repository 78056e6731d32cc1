"""Process bookkeeping for the local stack: pid files, sessions, ports, sockets.

Every long-running part is started as the leader of a new session
(``start_new_session=True``), so its session id equals the PID in its pid file.
Airflow's task supervisors move into process groups of their own (``setpgid``),
which ``killpg`` on the leader's group would miss, but they stay in the leader's
session; stopping a part therefore signals every process of that session, found
by PID, never by name.

Everything the stack writes is private to its user: its own directories are made 0700
(``private_dir``) and its files 0600 (``open_private``), whatever the umask, and every
process it starts runs with the umask ``PRIVATE_UMASK`` (0077), so what Airflow, moto,
Redis and PostgreSQL write (``airflow.cfg``, logs) is private too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import psutil

# A pid file's mtime is set to its process's start time, so a live process with
# that PID but another start time is someone else's (PID reuse).
_PID_FILE_SLACK_S = 2.0
_HEADER = "=== sparkify stack:"
# The umask of every process the stack starts: what they create is their user's alone.
PRIVATE_UMASK = 0o077


def private_dir(path: Path, mode: int = 0o700) -> Path:
    """``path`` as a directory, made with mode ``mode`` (0700: its user's alone) whatever
    the umask if it is missing (missing parents get the default mode: they are not the
    stack's). An existing directory keeps its mode (``Stack`` sets its own directories')."""
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=mode, exist_ok=True)
        path.chmod(mode)
    return path


def open_private(path: Path, flags: int = os.O_WRONLY | os.O_TRUNC) -> int:
    """``os.open(path, flags | O_CREAT)`` with mode 0600, an existing file's mode made 0600."""
    fd = os.open(path, flags | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
    except BaseException:
        os.close(fd)
        raise
    return fd


def is_running(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _since_boot(process: psutil.Process) -> float:
    """When ``process`` started, in seconds since boot. ``create_time()`` is the boot time
    (the wall clock minus uptime, read anew each call) plus that: a clock step (NTP, or a
    virtual machine's clock corrected after a stall) moves it, not this difference."""
    return process.create_time() - psutil.boot_time()


def write_pid(path: Path, pid: int) -> None:
    """Write ``pid`` to ``path`` (mode 0600) with the process's start, in seconds since boot."""
    private_dir(path.parent)
    try:
        text = f"{pid} {_since_boot(psutil.Process(pid)):.2f}\n"
    except psutil.Error:
        text = f"{pid}\n"
    with os.fdopen(open_private(path), "w") as fh:
        fh.write(text)


def read_pid(path: Path) -> int | None:
    """The PID in ``path`` if that process is still the one the file was written for."""
    try:
        fields = path.read_text().split()
        pid = int(fields[0])
        started = float(fields[1]) if len(fields) > 1 else None
        written = path.stat().st_mtime  # a file with the PID alone is checked by its mtime
    except (OSError, ValueError, IndexError):
        return None
    try:
        process = psutil.Process(pid)
        drift = (
            _since_boot(process) - started
            if started is not None
            else process.create_time() - written
        )
    except psutil.Error:
        return None
    if abs(drift) > _PID_FILE_SLACK_S or not is_running(pid):
        return None
    return pid


def why_not_running(path: Path) -> str:
    """Why ``read_pid(path)`` finds no process: for the message that says a part exited."""
    try:
        fields = path.read_text().split()
        pid = int(fields[0])
    except (OSError, ValueError, IndexError) as exc:
        return f"no readable pid file {path} ({exc})"
    try:
        process = psutil.Process(pid)
        status = process.status()
    except psutil.Error:
        return f"pid {pid} is gone"
    if status == psutil.STATUS_ZOMBIE:
        return f"pid {pid} has exited"
    return f"pid {pid} is now another process than the one {path.name} was written for"


def owned_session(path: Path) -> int | None:
    """The session id to stop for the pid file ``path``: its PID if that process is still
    ours, or if it is gone (its session may have orphans left: Linux does not reuse a PID
    while it names a live session). None if the PID now belongs to another process."""
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if read_pid(path) == pid or not psutil.pid_exists(pid):
        return pid
    try:
        if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return pid  # ours, exited, not yet reaped
    except psutil.Error:
        return pid
    return None


def log_header(name: str) -> str:
    """The line a part's log gets before each start (``tail`` reads from the last one)."""
    return f"\n{_HEADER} {time.strftime('%Y-%m-%d %H:%M:%S')} starting {name}\n"


def spawn(
    name: str,
    cmd: Sequence[str],
    *,
    env: Mapping[str, str],
    log_path: Path,
    cwd: Path,
) -> subprocess.Popen:
    """Start ``cmd`` as a session leader, with the umask ``PRIVATE_UMASK``, its stdout and
    stderr appended to ``log_path`` (mode 0600)."""
    private_dir(log_path.parent)
    with os.fdopen(open_private(log_path, os.O_WRONLY | os.O_APPEND), "ab") as log:
        log.write(log_header(name).encode())
        log.flush()
        return subprocess.Popen(
            list(cmd),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=PRIVATE_UMASK,
        )


def session_members(sid: int) -> list[psutil.Process]:
    """Every live process whose session id is ``sid`` (a leader started by ``spawn``)."""
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) == sid and proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc)
        except (OSError, psutil.Error):
            continue
    return members


def process_tree(pid: int) -> list[psutil.Process]:
    """``pid`` and its live descendants."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return []
    return [p for p in procs if _alive(p)]


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _signal(procs: Iterable[psutil.Process], sig: signal.Signals) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)


def wait_gone(procs: Iterable[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait up to ``timeout`` seconds; return the processes still alive."""
    deadline = time.monotonic() + timeout
    alive = [p for p in procs if _alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [p for p in alive if _alive(p)]
    return alive


def terminate_sessions(
    sids: Sequence[int], *, timeout: float = 20.0, whole: Iterable[int] = ()
) -> list[psutil.Process]:
    """Stop the sessions led by ``sids``: SIGTERM to the leaders (in order) and to every
    member of the sessions in ``whole``, then to whatever is left, then SIGKILL.
    Returns the survivors (normally none)."""
    leaders = []
    for sid in sids:
        with contextlib.suppress(psutil.Error):
            leaders.append(psutil.Process(sid))
    whole = set(whole)
    # Leaders first, so Airflow shuts its own children down cleanly.
    for leader in leaders:
        if leader.pid in whole:
            _signal(session_members(leader.pid), signal.SIGTERM)
        elif _alive(leader):
            _signal([leader], signal.SIGTERM)
    wait_gone(leaders, timeout)
    members = [m for sid in sids for m in session_members(sid)]
    _signal(members, signal.SIGTERM)
    members = wait_gone(members, 5.0)
    _signal(members, signal.SIGKILL)
    return wait_gone([m for sid in sids for m in session_members(sid)], 5.0)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now (the OS's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True if a server could listen on ``port`` now (as servers do, with SO_REUSEADDR,
    so that connections of a previous run still in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def listening_sockets(procs: Iterable[psutil.Process]) -> list[tuple[int, str, int]]:
    """``(pid, address, port)`` of every listening TCP socket and bound UDP socket."""
    found = []
    for proc in procs:
        try:
            conns = proc.net_connections(kind="inet")
        except psutil.Error:
            continue
        for conn in conns:
            listening = conn.status == psutil.CONN_LISTEN or (
                conn.type == socket.SOCK_DGRAM and not conn.raddr
            )
            if listening and conn.laddr:
                found.append((proc.pid, conn.laddr.ip, conn.laddr.port))
    return found


def tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a log file since its last ``spawn`` header."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 16_384))
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    text_lines = text.splitlines()
    starts = [i for i, line in enumerate(text_lines) if line.startswith(_HEADER)]
    if starts:
        text_lines = text_lines[starts[-1] + 1 :]
    return "\n".join(text_lines[-lines:])
