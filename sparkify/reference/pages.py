"""The manual's generated pages, as Markdown, from the code that is their truth.

``docs/hooks.py`` adds them to the site at build time:

- ``settings_page``: every ``Settings`` field (its variable, type, default per environment
  from ``config/<env>.toml``, and its documentation) and every other variable of
  ``sparkify.reference.variables``;
- ``cli_page``: every subcommand and option of the ``sparkify`` command, from its parser;
- ``dags_page``: each DAG file's docstring and each operator's, read without importing them;
- ``benchmark_figures``: the current figures of ``benchmarks/results.json``.
"""

from __future__ import annotations

import argparse
import ast
import json
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import fields
from pathlib import Path

from sparkify.reference.variables import READERS, VARIABLES

CONNECTIONS = (
    ("warehouse", "`postgres` or `redshift`", "The warehouse the pipeline writes."),
    (
        "warehouse_read",
        "`postgres` or `redshift`",
        "A user with `SELECT` only, for the health page and reports; without it they read "
        "through `warehouse` and log a warning.",
    ),
    ("aws_default", "`aws`", "S3 (and SQS): credentials, region, and an endpoint if not AWS."),
    (
        "sparkify_alert_webhook",
        "`http`",
        "Where the `webhook` alert channel posts (the id is `SPARKIFY_ALERT_WEBHOOK_CONN_ID`).",
    ),
    (
        "smtp_default",
        "`smtp`",
        "How the `smtp` alert channel sends (the id is `SPARKIFY_ALERT_SMTP_CONN_ID`).",
    ),
)


def _cell(text: object) -> str:
    """Text for one Markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _table(head: Iterable[str], rows: Iterable[Iterable[object]]) -> list[str]:
    head = list(head)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _value(value: object) -> str:
    return "empty" if value == "" else f"`{value}`"


def settings_page(config_dir: Path) -> str:
    """The settings reference: the ``Settings`` fields, the other variables, connections."""
    from sparkify.pipeline.settings import ENVIRONMENTS, Settings

    defaults = {}
    for env in ENVIRONMENTS:
        raw = tomllib.loads((config_dir / f"{env}.toml").read_text())
        defaults[env] = {**raw.pop("redshift", {}), **raw}
    out = [
        "# Settings and environment",
        "",
        "Generated from the code (`sparkify.pipeline.settings.Settings`, "
        "`sparkify.reference.variables`) when the manual is built; "
        "[Configuration](../configuration.md) explains how they fit together.",
        "",
        "## Pipeline settings",
        "",
        "Read by the tasks from `config/<env>.toml` (`SPARKIFY_ENV` picks the file); the "
        "variable, when set, overrides the file.",
        "",
    ]
    rows = []
    for field in fields(Settings):
        if field.name == "env":
            continue
        doc = field.metadata.get("doc", "")
        per_env = " / ".join(
            f"{env}: {_value(defaults[env].get(field.name, ''))}" for env in ENVIRONMENTS
        )
        rows.append(
            (f"`{field.name}`", f"`SPARKIFY_{field.name.upper()}`", field.type, per_env, doc)
        )
    out += _table(("Setting", "Variable", "Type", "Default", "Meaning"), rows)
    for reader in READERS:
        chosen = [v for v in VARIABLES if v.read_by == reader]
        if not chosen:
            continue
        out += ["", f"## {reader}", ""]
        out += _table(
            ("Variable", "Type", "Default", "Meaning"),
            ((f"`{v.name}`", v.type, v.default, v.meaning) for v in chosen),
        )
    out += [
        "",
        "## Airflow connections",
        "",
        "Secrets never go in settings: they come from Airflow connections (`AIRFLOW_CONN_<ID>` "
        "or a secrets backend). The warehouse connection's type decides the SQL dialect.",
        "",
    ]
    out += _table(
        ("Connection id", "Type", "Meaning"), ((f"`{c}`", t, m) for c, t, m in CONNECTIONS)
    )
    return "\n".join(out) + "\n"


def _subcommands(
    parser: argparse.ArgumentParser,
) -> Iterator[tuple[str, argparse.ArgumentParser, str]]:
    """Each subcommand's name, parser and one-line help."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, child in action.choices.items():
                yield name, child, helps.get(name, "")


def _options(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    for action in parser._actions:
        if isinstance(action, (argparse._SubParsersAction, argparse._HelpAction)):
            continue
        yield action


def _option_row(action: argparse.Action) -> tuple[str, str, str]:
    names = ", ".join(f"`{s}`" for s in action.option_strings) or f"`{action.dest}`"
    if action.option_strings and action.nargs != 0:
        names += f" `{action.metavar or action.dest.upper()}`"
    help_text = (action.help or "").replace("%(default)s", str(action.default))
    if action.choices:
        help_text += " (one of: " + ", ".join(f"`{c}`" for c in action.choices) + ")"
    default = ""
    if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
        default = f"`{action.default}`"
    return names, default, help_text


def cli_page(parser: argparse.ArgumentParser) -> str:
    """The command-line reference: each subcommand (nested ones too) and its options."""
    out = [
        "# Command line",
        "",
        "Generated from the `sparkify` command's parser when the manual is built. "
        "`sparkify COMMAND --help` prints the same.",
        "",
    ]

    def walk(prog: str, sub: argparse.ArgumentParser, depth: int, help_text: str) -> None:
        out.extend([f"{'#' * depth} `{prog}`", ""])
        if sub.description or help_text:
            out.extend([(sub.description or help_text).strip(), ""])
        out.extend(["```text", sub.format_usage().strip(), "```", ""])
        rows = [_option_row(a) for a in _options(sub)]
        if rows:
            out.extend(_table(("Argument", "Default", "Meaning"), rows))
            out.append("")
        for name, child, child_help in _subcommands(sub):
            walk(f"{prog} {name}", child, min(depth + 1, 4), child_help)

    for name, sub, help_text in _subcommands(parser):
        walk(f"sparkify {name}", sub, 2, help_text)
    return "\n".join(out)


def _docstrings(path: Path) -> tuple[str, list[tuple[str, str]]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    classes = [
        (node.name, ast.get_docstring(node) or "")
        for node in tree.body
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_")
    ]
    return ast.get_docstring(tree) or "", classes


def dags_page(dags_dir: Path, operators_dir: Path) -> str:
    """Each DAG file's docstring (its ``doc_md`` in Airflow's UI) and each operator's."""
    out = [
        "# DAGs and operators",
        "",
        "Generated from the DAG files' and the operators' docstrings when the manual is "
        "built; Airflow's UI shows the same text as each DAG's documentation.",
        "",
        "## DAGs",
        "",
    ]
    for path in sorted(dags_dir.glob("*.py")):
        doc, _ = _docstrings(path)
        out.extend([f"### `{path.stem}`", "", doc, ""])
    out.extend(["## Operators", ""])
    for path in sorted(operators_dir.glob("*.py")):
        for name, doc in _docstrings(path)[1]:
            if name.endswith("Operator") or name.endswith("Sensor"):
                module = f"sparkify.pipeline.operators.{path.stem}"
                out.extend([f"### `{name}`", "", f"`{module}`", "", doc, ""])
    return "\n".join(out)


def _figure(value: object) -> object:
    """A number with thousands separators; any other scalar as it is."""
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return f"{value:,}" if is_number else value


def benchmark_figures(results: Mapping[str, object]) -> str:
    """The current figures: one row per scalar result, with the machine they were taken on."""
    machine = results.get("machine") or {}
    rows = [
        (f"`{key}`", _figure(value))
        for key, value in sorted(results.items())
        if isinstance(value, (int, float, str, bool))
    ]
    out = []
    if isinstance(machine, Mapping) and machine:
        out += [
            "Taken on: " + ", ".join(f"{k} {_cell(v)}" for k, v in sorted(machine.items())),
            "",
        ]
    out += _table(("Figure", "Value"), rows)
    out += ["", "Nested detail (per-run profiles and samples) is in `benchmarks/results.json`."]
    return "\n".join(out)


def load_results(path: Path) -> dict[str, object]:
    return json.loads(path.read_text())
