"""What the deployment page (``docs/deployment.md``) says a deployment must set, per ingest
mode: the deploy tests deploy with exactly that, and check the Helm values set it."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENT_PAGE = ROOT / "docs" / "deployment.md"
TABLE_HEADING = "## Required settings by ingest mode"
MODES = ("events", "schedule", "both")
# A value for each variable the deployment page may list (the test fails on one it names
# without a value here): a deployment's, with nothing real in it.
EXAMPLES = {
    "SPARKIFY_ENV": "aws",
    "SPARKIFY_BUCKET": "acme-sparkify-landing",
    "SPARKIFY_REGION": "eu-west-1",
    "SPARKIFY_IAM_ROLE": "arn:aws:iam::210987654321:role/acme-sparkify-copy",
    "SPARKIFY_NOTIFICATIONS_QUEUE": "https://sqs.eu-west-1.amazonaws.com/210987654321/landing",
    "AIRFLOW_CONN_WAREHOUSE": json.dumps(
        {
            "conn_type": "redshift",
            "host": "acme.abc123.eu-west-1.redshift.amazonaws.com",
            "port": 5439,
            "schema": "dev",
            "login": "sparkify",
            "password": "example",
        }
    ),
    "AIRFLOW_CONN_AWS_DEFAULT": json.dumps({"conn_type": "aws"}),
}


def required_settings(mode: str) -> dict[str, str]:
    """What the deployment page says a deployment in ``mode`` must set, with example
    values: its table under ``TABLE_HEADING``, a row per variable, a column per mode."""
    text = DEPLOYMENT_PAGE.read_text()
    assert TABLE_HEADING in text, f"{DEPLOYMENT_PAGE} has no {TABLE_HEADING!r}"
    rows = []
    for line in text.split(TABLE_HEADING, 1)[1].splitlines():
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif rows:
            break
    head, body = rows[0], [r for r in rows[2:]]
    column = head.index(mode)
    names = [r[0].strip("`") for r in body if r[column] == "required"]
    unknown = [n for n in names if n not in EXAMPLES and n != "SPARKIFY_INGEST"]
    assert not unknown, f"the deployment page requires {unknown}: give EXAMPLES a value"
    return {n: mode if n == "SPARKIFY_INGEST" else EXAMPLES[n] for n in names}
