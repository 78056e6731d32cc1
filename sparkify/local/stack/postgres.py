"""A private PostgreSQL cluster for the local stack, run with Debian's server binaries.

PostgreSQL refuses to run as root, so as root every server command goes through
``runuser -u postgres``; the data directory then belongs to ``postgres``. Run as an
ordinary user, the cluster simply belongs to that user. TCP connections need a
password (SCRAM); the Unix socket (peer authentication) is only used to create the
roles and databases.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import stat
import subprocess
from pathlib import Path

from sparkify.errors import CliError
from sparkify.local.stack import process as stack_process

INSTALL_HINT = "Install PostgreSQL's server with `apt-get install postgresql` (Debian/Ubuntu)"
PREFERRED_MAJOR = "15"
SERVER_USER = "postgres"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# A Unix socket path must fit in sockaddr_un.sun_path (108 bytes, NUL included).
_MAX_SOCKET_PATH = 107


class PostgresError(CliError):
    """The local PostgreSQL cluster could not be set up or started."""


def find_bindir() -> Path:
    """Directory of ``initdb``/``pg_ctl``/``postgres``: $SPARKIFY_PG_BINDIR, else
    Debian's ``/usr/lib/postgresql/15/bin``, else the newest installed version."""
    if override := os.environ.get("SPARKIFY_PG_BINDIR"):
        candidates = [Path(override)]
    else:
        root = Path("/usr/lib/postgresql")
        found = sorted(
            (p.parent for p in root.glob("*/bin/initdb")),
            key=lambda p: (p.parent.name != PREFERRED_MAJOR, -_major(p.parent.name)),
        )
        on_path = shutil.which("initdb")
        candidates = found + ([Path(on_path).parent] if on_path else [])
    for bindir in candidates:
        if all((bindir / tool).exists() for tool in ("initdb", "pg_ctl", "postgres", "psql")):
            return bindir
    raise PostgresError(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found under "
        f"/usr/lib/postgresql/*/bin. {INSTALL_HINT}, or point SPARKIFY_PG_BINDIR at them."
    )


def _major(name: str) -> int:
    return int(name) if name.isdigit() else 0


class PostgresCluster:
    """One cluster: ``data_dir`` (which also holds the Unix socket), a port on 127.0.0.1."""

    def __init__(self, data_dir: Path, *, port: int, log_path: Path, socket_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = port
        self.log_path = log_path
        self.socket_dir = socket_dir
        self._bindir: Path | None = None

    @property
    def bindir(self) -> Path:
        if self._bindir is None:
            self._bindir = find_bindir()
        return self._bindir

    # -- running commands as the server's owner -------------------------------------
    @property
    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _owner(self) -> pwd.struct_passwd:
        if not self._as_root:
            return pwd.getpwuid(os.geteuid())
        try:
            return pwd.getpwnam(SERVER_USER)
        except KeyError:
            raise PostgresError(
                f"Running as root, the server must run as the '{SERVER_USER}' user, which does "
                f"not exist. {INSTALL_HINT}; it creates that user."
            ) from None

    def _cmd(self, tool: str, *args: str) -> list[str]:
        cmd = [str(self.bindir / tool), *args]
        if self._as_root:
            if not shutil.which("runuser"):
                raise PostgresError("`runuser` (util-linux) is needed to run PostgreSQL as root")
            return ["runuser", "-u", SERVER_USER, "--", *cmd]
        return cmd

    def _run(self, tool: str, *args: str, stdin: str | None = None, timeout: float = 120):
        # The cwd must be readable by the server's owner: initdb and pg_ctl resolve it.
        proc = subprocess.run(
            self._cmd(tool, *args),
            input=stdin,
            capture_output=True,
            text=True,
            cwd=self.data_dir.parent,
            timeout=timeout,
            check=False,
            umask=stack_process.PRIVATE_UMASK,  # what they write is private (initdb's data dir is)
        )
        if proc.returncode != 0:
            output = (proc.stdout + proc.stderr).strip()
            raise PostgresError(
                f"{tool} failed (exit {proc.returncode}); see {self.log_path}\n{output}"
            )
        return proc

    def _give_to_owner(self, path: Path) -> None:
        if self._as_root:
            owner = self._owner()
            os.chown(path, owner.pw_uid, owner.pw_gid)

    # -- lifecycle ------------------------------------------------------------------
    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        """``initdb`` the data directory unless it already holds a cluster."""
        self._check_reachable()
        if self.initialized:
            version = (self.data_dir / "PG_VERSION").read_text().strip()
            if version != self.bindir.parent.name and self.bindir.parent.name.isdigit():
                raise PostgresError(
                    f"{self.data_dir} holds a PostgreSQL {version} cluster but the binaries in "
                    f"{self.bindir} are version {self.bindir.parent.name}; set SPARKIFY_PG_BINDIR "
                    "or remove the state directory (`sparkify stack down --purge`)"
                )
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        self._give_to_owner(self.data_dir)
        self._run(
            "initdb",
            "--pgdata",
            str(self.data_dir),
            "--auth-local=peer",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--no-locale",
            "--no-instructions",
            timeout=300,
        )
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\n# Rewritten by `sparkify stack up` on every start.\n")
            conf.write("include = 'sparkify.conf'\n")

    def _check_reachable(self) -> None:
        """The server's owner must be able to enter every parent of the data directory."""
        owner = self._owner()
        groups = {g.gr_gid for g in _groups_of(owner)}
        for parent in reversed(self.data_dir.parent.resolve().parents):
            self._check_enterable(parent, owner, groups)
        self._check_enterable(self.data_dir.parent.resolve(), owner, groups)

    @staticmethod
    def _check_enterable(path: Path, owner: pwd.struct_passwd, groups: set[int]) -> None:
        st = path.stat()
        if st.st_uid == owner.pw_uid:
            ok = st.st_mode & stat.S_IXUSR
        elif st.st_gid in groups:
            ok = st.st_mode & stat.S_IXGRP
        else:
            ok = st.st_mode & stat.S_IXOTH
        if not ok:
            raise PostgresError(
                f"PostgreSQL runs as user '{owner.pw_name}', who cannot enter {path} "
                f"(mode {stat.S_IMODE(st.st_mode):04o}). Put the stack's state elsewhere with "
                f"SPARKIFY_HOME, or allow it with `chmod o+x {path}`."
            )

    def write_config(self) -> None:
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            # Airflow's components, its parsing processes and the tests each hold a pool.
            "max_connections": "200",
            # A local stack: losing the last few commits on a crash is fine, slow tests are not.
            "synchronous_commit": "off",
            "log_destination": "stderr",
        }
        lines = [f"{key} = '{value}'" for key, value in settings.items()]
        conf = self.data_dir / "sparkify.conf"
        with os.fdopen(stack_process.open_private(conf), "w") as fh:
            fh.write("\n".join(lines) + "\n")
        self._give_to_owner(conf)

    def start(self) -> int:
        """Start the server (``pg_ctl start -w``) and return the postmaster's PID."""
        if len(str(self.socket_dir)) + len(f"/.s.PGSQL.{self.port}.lock") > _MAX_SOCKET_PATH:
            raise PostgresError(f"Socket directory path too long: {self.socket_dir}")
        stack_process.private_dir(self.socket_dir)
        self.socket_dir.chmod(0o700)  # the data directory, or a directory of its own in /tmp
        self._give_to_owner(self.socket_dir)
        self.write_config()
        stack_process.private_dir(self.log_path.parent)
        os.close(stack_process.open_private(self.log_path, os.O_WRONLY))
        self._give_to_owner(self.log_path)
        self._run(
            "pg_ctl", "start", "--pgdata", str(self.data_dir), "--log", str(self.log_path),
            "--wait", "--timeout", "60",
        )  # fmt: skip
        pid = self.postmaster_pid()
        if pid is None:
            raise PostgresError(f"PostgreSQL did not start; see {self.log_path}")
        return pid

    def stop(self) -> None:
        """``pg_ctl stop -m fast``, waiting for the server to exit."""
        self._run(
            "pg_ctl", "stop", "--pgdata", str(self.data_dir), "--mode", "fast",
            "--wait", "--timeout", "60",
        )  # fmt: skip

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    # -- roles and databases -----------------------------------------------------------
    def ensure_database(self, name: str, *, owner: str, password: str) -> None:
        """Create role ``owner`` (LOGIN, ``password``) and database ``name`` if missing;
        (re)sets the password so the state file stays the source of truth."""
        self._check_names(name, owner, password=password)
        sql = f"""
SELECT 'CREATE ROLE {owner} LOGIN' WHERE NOT EXISTS
  (SELECT FROM pg_roles WHERE rolname = '{owner}')\\gexec
ALTER ROLE {owner} WITH LOGIN PASSWORD '{password}';
SELECT 'CREATE DATABASE {name} OWNER {owner}' WHERE NOT EXISTS
  (SELECT FROM pg_database WHERE datname = '{name}')\\gexec
"""
        self._psql_script(sql)

    def ensure_reader(self, database: str, *, owner: str, reader: str, password: str) -> None:
        """Create role ``reader`` (LOGIN, ``password``) with ``SELECT`` on every table of
        ``database``'s ``public`` schema and on every table ``owner`` makes from now on
        (another schema needs ``GRANT USAGE`` too), and nothing else: no ``CREATE``, no
        temporary tables. The grants are the ones docs/security.md gives."""
        self._check_names(database, owner, reader, password=password)
        sql = f"""
SELECT 'CREATE ROLE {reader} LOGIN' WHERE NOT EXISTS
  (SELECT FROM pg_roles WHERE rolname = '{reader}')\\gexec
ALTER ROLE {reader} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '{password}';
\\connect {database}
REVOKE ALL ON DATABASE {database} FROM PUBLIC;
GRANT CONNECT ON DATABASE {database} TO {reader};
GRANT CREATE ON SCHEMA public TO {owner};
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO {reader};
GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader};
ALTER DEFAULT PRIVILEGES FOR ROLE {owner} GRANT SELECT ON TABLES TO {reader};
"""
        self._psql_script(sql)

    @staticmethod
    def _check_names(*idents: str, password: str) -> None:
        """What ``ensure_*`` write into their SQL text: plain identifiers, a password
        without quotes or backslashes."""
        for ident in idents:
            if not _IDENTIFIER.match(ident):
                raise PostgresError(f"Not a plain identifier: {ident!r}")
        if "'" in password or "\\" in password:
            raise PostgresError("Generated passwords must not contain quotes or backslashes")

    def _psql_script(self, sql: str) -> None:
        """``sql`` through psql as the server's owner, on the Unix socket; sent on stdin,
        never on a command line another user could read."""
        self._run(
            "psql", "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1",
            "--host", str(self.socket_dir), "--port", str(self.port), "--dbname", "postgres",
            "--file", "-",
            stdin=sql,
        )  # fmt: skip

    # -- a database as a template --------------------------------------------------------
    def dump_database(self, name: str, *, timeout: float = 300) -> bytes:
        """Database ``name`` in pg_dump's custom format, without owners or privileges."""
        if not _IDENTIFIER.match(name):
            raise PostgresError(f"Not a plain identifier: {name!r}")
        return self._run_bytes(
            "pg_dump", "--format=custom", "--no-owner", "--no-privileges",
            "--host", str(self.socket_dir), "--port", str(self.port), "--dbname", name,
            timeout=timeout,
        )  # fmt: skip

    def restore_database(self, name: str, dump: bytes, *, owner: str, timeout: float = 300) -> None:
        """``dump`` (``dump_database``'s) into the empty database ``name``, every object made
        as ``owner``; in one transaction, so a restore that fails leaves ``name`` empty."""
        for ident in (name, owner):
            if not _IDENTIFIER.match(ident):
                raise PostgresError(f"Not a plain identifier: {ident!r}")
        self._run_bytes(
            "pg_restore", "--no-owner", "--no-privileges", f"--role={owner}",
            "--single-transaction", "--exit-on-error",
            "--host", str(self.socket_dir), "--port", str(self.port), "--dbname", name,
            stdin=dump, timeout=timeout,
        )  # fmt: skip

    def _run_bytes(
        self, tool: str, *args: str, stdin: bytes | None = None, timeout: float
    ) -> bytes:
        proc = subprocess.run(
            self._cmd(tool, *args),
            input=stdin,
            capture_output=True,
            cwd=self.data_dir.parent,
            timeout=timeout,
            check=False,
            umask=stack_process.PRIVATE_UMASK,
        )
        if proc.returncode != 0:
            output = proc.stderr.decode("utf-8", "replace").strip()
            raise PostgresError(f"{tool} failed (exit {proc.returncode})\n{output}")
        return proc.stdout

    @property
    def major(self) -> str:
        """The cluster's PostgreSQL major version (its data directory's)."""
        return (self.data_dir / "PG_VERSION").read_text().strip()

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists (tests use one database each)."""
        if not _IDENTIFIER.match(name):
            raise PostgresError(f"Not a plain identifier: {name!r}")
        self._run(
            "psql", "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1",
            "--host", str(self.socket_dir), "--port", str(self.port), "--dbname", "postgres",
            "--command", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
        )  # fmt: skip


def _groups_of(user: pwd.struct_passwd):
    import grp

    return [g for g in grp.getgrall() if user.pw_name in g.gr_mem or g.gr_gid == user.pw_gid]
