"""The manual's generated reference says what the code reads and offers, all of it."""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import fields
from pathlib import Path

import pytest

from sparkify.cli.main import build_parser
from sparkify.pipeline.settings import Settings
from sparkify.reference import pages
from sparkify.reference.variables import READERS, VARIABLES

ROOT = Path(__file__).resolve().parents[2]
# A whole variable name: not the head of a pattern such as SPARKIFY_API_* or an f-string's
# SPARKIFY_{...}, not the tail of another name (AIRFLOW_CONN_SPARKIFY_...).
NAME = re.compile(r"(?<![A-Z0-9_])SPARKIFY_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_*{])")
SCANNED = ("sparkify", "dags", "benchmarks", "tests", "deploy", "config", "docs")
SUFFIXES = {".py", ".toml", ".sh", ".yaml", ".txt", ".md", ""}


def _sources(exclude: tuple[str, ...] = ()) -> dict[Path, str]:
    found = {}
    for top in SCANNED:
        for path in (ROOT / top).rglob("*"):
            rel = path.relative_to(ROOT).as_posix()
            if not path.is_file() or path.suffix not in SUFFIXES or "__pycache__" in rel:
                continue
            if rel.startswith(exclude):
                continue
            found[path] = path.read_text(errors="replace")
    for top in ("Makefile", "README.md"):
        found[ROOT / top] = (ROOT / top).read_text()
    found[ROOT / ".ci" / "run"] = (ROOT / ".ci" / "run").read_text()
    return found


def _settings_variables() -> set[str]:
    return {f"SPARKIFY_{f.name.upper()}" for f in fields(Settings) if f.name != "env"}


def _described() -> set[str]:
    return {v.name for v in VARIABLES} | _settings_variables()


def test_every_variable_the_code_names_is_described():
    undescribed = {}
    for path, text in _sources().items():
        for name in set(NAME.findall(text)) - _described():
            undescribed.setdefault(name, path.relative_to(ROOT).as_posix())
    assert not undescribed, f"add to sparkify.reference.variables: {undescribed}"


def test_every_described_variable_is_read_somewhere():
    named = set()
    for text in _sources(exclude=("sparkify/reference/",)).values():
        named |= set(NAME.findall(text))
    stale = {v.name for v in VARIABLES} - named
    assert not stale, f"described but read nowhere: {sorted(stale)}"


def test_catalogue_is_well_formed():
    names = [v.name for v in VARIABLES]
    assert len(names) == len(set(names)), "a variable is described twice"
    assert not set(names) & _settings_variables(), "a Settings field is described twice"
    for v in VARIABLES:
        assert NAME.fullmatch(v.name), v.name
        assert v.read_by in READERS, v
        assert v.type, v
        assert v.default, v
        assert v.meaning.strip(), v


def test_every_settings_field_is_documented():
    missing = [f.name for f in fields(Settings) if f.name != "env" and not f.metadata.get("doc")]
    assert not missing, f"Settings fields without metadata doc: {missing}"


def test_settings_page_lists_every_variable_and_default():
    page = pages.settings_page(ROOT / "config")
    for name in _described():
        assert f"`{name}`" in page, name
    bucket_row = next(line for line in page.splitlines() if "`SPARKIFY_BUCKET`" in line)
    assert "local: `sparkify-local`" in bucket_row


def _all_options(parser: argparse.ArgumentParser, prog: str) -> list[tuple[str, str]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found.append((f"{prog} {name}", ""))
                found += _all_options(child, f"{prog} {name}")
        elif not isinstance(action, argparse._HelpAction):
            for option in action.option_strings or [action.dest]:
                found.append((prog, option))
    return found


def test_cli_page_lists_every_subcommand_and_option():
    page = pages.cli_page(build_parser())
    sections = re.split(r"^#+ `(sparkify[^`]*)`$", page, flags=re.M)
    by_command = dict(zip(sections[1::2], sections[2::2], strict=True))
    options = _all_options(build_parser(), "sparkify")
    assert len(options) > 40
    for command, option in options:
        if command == "sparkify":
            continue  # the top level has only subcommands
        assert command in by_command, f"no section for {command}"
        if option:
            assert f"`{option}`" in by_command[command], f"{command} {option}"


def test_dags_page_has_every_dag_and_operator_docstring():
    page = pages.dags_page(ROOT / "dags", ROOT / "sparkify" / "pipeline" / "operators")
    for path in (ROOT / "dags").glob("*.py"):
        assert f"### `{path.stem}`" in page
        first_line = path.read_text().split('"""')[1].strip().splitlines()[0]
        assert first_line in page, path.name
    for operator in ("StageJsonOperator", "PartitionColumnCheckOperator", "HourPrefixSensor"):
        assert f"### `{operator}`" in page


def test_benchmark_figures_show_every_scalar_result():
    results = json.loads((ROOT / "benchmarks" / "results.json").read_text())
    table = pages.benchmark_figures(results)
    scalars = [k for k, v in results.items() if isinstance(v, (int, float, str, bool))]
    assert scalars
    for key in scalars:
        assert f"| `{key}` |" in table, key


@pytest.mark.parametrize("text", ["a | b", "two\nlines"])
def test_table_cells_stay_one_cell(text):
    (row,) = pages._table(("x",), [(text,)])[2:]
    assert row.count(" | ") == 0
    assert "\n" not in row
