"""The Helm values parse, name only settings checked against the chart's schema, and hold
no secret: secrets are named Kubernetes Secrets, connections come from a secrets backend."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import yaml

from tests.deploy.documented import required_settings

ROOT = Path(__file__).resolve().parents[2]
VALUES = ROOT / "deploy" / "helm" / "values.yaml"
CHECKED = ROOT / "deploy" / "helm" / "checked-settings.txt"
SECRETISH = re.compile(r"password|secret|token|fernet|key", re.IGNORECASE)


def _leaves(node: object, path: str = "") -> list[tuple[str, object]]:
    if isinstance(node, dict):
        return [leaf for k, v in node.items() for leaf in _leaves(v, f"{path}.{k}".lstrip("."))]
    return [(path, node)]


def _values() -> dict:
    return yaml.safe_load(VALUES.read_text())


def _checked() -> list[str]:
    lines = CHECKED.read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def test_every_setting_was_checked_against_the_chart_schema():
    patterns = _checked()
    unchecked = [
        p for p, _ in _leaves(_values()) if not any(fnmatch.fnmatch(p, g) for g in patterns)
    ]
    assert not unchecked, f"not checked against the chart's values.schema.json: {unchecked}"


def test_the_executor_is_celery_with_two_workers_and_the_image_holds_the_dags():
    values = _values()
    assert values["executor"] == "CeleryExecutor"
    assert values["workers"]["replicas"] == 2
    assert values["dags"]["gitSync"]["enabled"] is False
    assert values["airflowVersion"] == "3.3.2"


def test_no_secret_value_only_names_of_secrets():
    for path, _value in _leaves(_values()):
        name = path.rsplit(".", 1)[-1]
        if SECRETISH.search(name) and "annotations" not in path:
            assert name.endswith("SecretName"), f"{path} looks like a secret given inline"
    for item in _values()["env"]:
        assert not SECRETISH.search(item["name"].replace("IAM_ROLE", "")), item
    backend = _values()["config"]["secrets"]["backend"]
    assert backend.endswith("SecretsManagerBackend")


def test_the_chart_sets_every_variable_the_deployment_page_requires_for_its_mode():
    env = {e["name"]: e["value"] for e in _values()["env"]}
    mode = env.get("SPARKIFY_INGEST", "both")
    # Connections come from the secrets backend the chart configures, not the environment.
    wanted = [n for n in required_settings(mode) if n.startswith("SPARKIFY_")]
    assert wanted
    assert [n for n in wanted if n not in env] == []
    assert _values()["config"]["secrets"]["backend"]
