"""``make test``'s two lanes: which tests each runs, their reports, their exit status."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from tests import lanes


def test_the_lanes_hold_every_tier_once():
    (e2e, e2e_paths), (_others, other_paths) = lanes.lanes()
    assert (e2e, e2e_paths) == ("e2e", ["tests/e2e"])
    tiers = {p.name for p in (lanes.ROOT / "tests").iterdir() if any(p.glob("test_*.py"))}
    assert {Path(p).name for p in [*e2e_paths, *other_paths]} == tiers
    assert {"unit", "dags", "integration", "deploy"} <= {Path(p).name for p in other_paths}


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
