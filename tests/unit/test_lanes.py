"""``make test``'s two lanes: which tests each runs, their reports, their exit status."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from tests import lanes


def _paths(args: list[str]) -> list[str]:
    return [a for a in args if a.startswith("tests/")]


def test_the_lanes_hold_every_tier_once():
    (e2e, e2e_args), (_others, other_args) = lanes.lanes()
    assert e2e == "e2e"
    assert _paths(e2e_args) == ["tests/e2e"]
    tiers = {p.name for p in (lanes.ROOT / "tests").iterdir() if any(p.glob("test_*.py"))}
    other_tiers = {Path(p).name for p in _paths(other_args) if not p.startswith("tests/e2e")}
    assert other_tiers | {"e2e"} == tiers
    assert {"unit", "dags", "integration", "deploy"} <= other_tiers


def test_the_redshift_end_to_end_runs_in_the_other_lane_and_only_there():
    (_e2e, e2e_args), (_others, other_args) = lanes.lanes()
    e2e_marks = e2e_args[e2e_args.index("-m") + 1]
    other_marks = other_args[other_args.index("-m") + 1]
    assert e2e_marks == "not redshift"
    assert other_marks == "not e2e or redshift"
    assert "tests/e2e/test_end_to_end.py" in other_args


def test_a_junit_report_becomes_one_per_lane():
    args, target = lanes._split_junit(["-q", "--junitxml=/tmp/r.xml", "-k", "x"], "e2e")
    assert args == ["-q", "--junitxml=/tmp/r.xml.e2e", "-k", "x"]
    assert target == "/tmp/r.xml"
    assert lanes._split_junit(["-q"], "e2e") == (["-q"], None)


def test_reports_are_merged_and_a_missing_one_left_out(tmp_path):
    (tmp_path / "a.xml").write_text('<testsuites><testsuite name="p" tests="3"/></testsuites>')
    (tmp_path / "b.xml").write_text('<testsuite name="q" tests="2"/>')
    lanes.merge_junit(
        [tmp_path / "a.xml", tmp_path / "b.xml", tmp_path / "gone.xml"], tmp_path / "all.xml"
    )
    suites = ET.parse(tmp_path / "all.xml").getroot().findall("testsuite")
    assert [(s.get("name"), s.get("tests")) for s in suites] == [("p", "3"), ("q", "2")]


def test_the_status_is_the_first_failure_and_no_tests_only_when_both_had_none():
    assert lanes.status_of([0, 0]) == 0
    assert lanes.status_of([0, 5]) == 0
    assert lanes.status_of([5, 5]) == 5
    assert lanes.status_of([5, 1]) == 1
    assert lanes.status_of([2, 1]) == 2


def test_test_paths_of_ones_own_run_one_pytest():
    assert lanes._own_paths(["tests/unit/test_lanes.py::test_x", "-q"])
    assert lanes._own_paths(["tests/unit"])
    assert not lanes._own_paths(["-q", "--junitxml=/tmp/r.xml", "-k", "staging"])
