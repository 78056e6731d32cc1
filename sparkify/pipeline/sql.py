"""Load and render the SQL files under ``sql/``.

Jinja fills identifiers, the load mode and the partition window only; values travel as
bound parameters (``%(name)s``). ``<name>.<dialect>.sql`` overrides ``<name>.sql`` where
the dialects really differ.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import jinja2

from sparkify.pipeline.resources import resource_dir

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
MODES = ("upsert", "truncate_insert", "append")
# The star schema loads of one hour, in the order ``model`` runs them in its one
# transaction. Each file first locks its table, so every run takes the locks in this order
# and concurrent hours queue rather than deadlock.
MODEL_LOADS = (
    "load/load_songs",
    "load/load_artists",
    "load/load_songplays",
    "load/load_time",
    "load/load_users",
)


def sql_dir() -> Path:
    """The ``sql/`` folder (``sparkify.pipeline.resources``)."""
    return resource_dir("sql")


def identifier(name: str) -> str:
    """``name`` if it is a plain lower-case SQL identifier; raises otherwise."""
    if not IDENTIFIER.fullmatch(name):  # not match: "$" would allow a final newline
        raise ValueError(f"{name!r} is not a valid SQL identifier")
    return name


JSON_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def json_key(name: str) -> str:
    """``name`` if it is a plain JSON attribute name, safe as a quoted name and a literal."""
    if not JSON_KEY.fullmatch(name):
        raise ValueError(f"{name!r} is not a plain JSON attribute name")
    return name


def quoted(name: str) -> str:
    """A validated identifier, double-quoted (``time`` is reserved on Redshift)."""
    return f'"{identifier(name)}"'


@cache
def _environment(root: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(root),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # SQL, not HTML; only validated identifiers are interpolated
        # The files do not change under a running process; not checking their mtimes on
        # every render saves a stat per template and include (a month's window renders
        # thousands).
        auto_reload=False,
    )
    env.filters["ident"] = quoted
    env.filters["name"] = identifier  # validated, unquoted: for names never reserved
    env.filters["json_key"] = json_key
    return env


@cache
def template_name(name: str, dialect: str) -> str:
    root = sql_dir()
    variant = f"{name}.{dialect}.sql"
    return variant if (root / variant).exists() else f"{name}.sql"


def render(name: str, dialect: str = "postgres", **context: object) -> str:
    """Render ``sql/<name>[.<dialect>].sql`` with ``context``.

    ``mode`` (if given) must be one of ``MODES``.
    """
    mode = context.get("mode")
    if mode is not None and mode not in MODES:
        raise ValueError(f"load mode {mode!r} is not one of {MODES}")
    template = _environment(str(sql_dir())).get_template(template_name(name, dialect))
    return template.render(dialect=dialect, **context)


def statements(sql: str) -> list[str]:
    """Split rendered SQL into statements on ``;`` at line ends, dropping comments-only parts.

    Our SQL files never put ``;`` inside string literals at a line end, so this is enough.
    """
    parts = re.split(r";\s*(?:\n|$)", sql)
    result = []
    for part in parts:
        lines = [ln for ln in part.strip().splitlines() if not ln.strip().startswith("--")]
        text = "\n".join(lines).strip()
        if text:
            result.append(text)
    return result
