#!/bin/sh
# Install the sparkify wheel the way a production image does, then prove the result:
# the worker's package is there, its SQL and settings render from the installed package,
# and no local stand-in (moto) came with it.
#
#   deploy/install.sh WHEEL LOCK        (the Dockerfile runs it; so does tests/deploy)
#
# PIP_INSTALL overrides the installer (default `pip install --no-cache-dir`), PYTHON the
# interpreter that checks the result (default `python`).
set -eu
wheel="$1"
lock="$2"
${PIP_INSTALL:-pip install --no-cache-dir} --constraint "$lock" "$wheel"
${PYTHON:-python} - <<'PY'
import importlib.util
import sys

from sparkify.pipeline import settings, sql

for name in sql.MODEL_LOADS + ("schema/create_tables",):
    for dialect in ("postgres", "redshift"):
        assert sql.statements(sql.render(name, dialect, mode="upsert")), (name, dialect)
# aws.toml as a deployment completes it (its bucket, role and region come from there).
settings.load("aws", environ={
    "SPARKIFY_BUCKET": "install-check",
    "SPARKIFY_IAM_ROLE": "arn:aws:iam::123456789012:role/check",
    "SPARKIFY_REGION": "us-east-1",
})
for stand_in in ("moto",):
    if importlib.util.find_spec(stand_in) is not None:
        sys.exit(f"install.sh: {stand_in} is installed: a worker image never installs a mock")
print(f"install.sh: sparkify installed; SQL from {sql.sql_dir()}, settings from {settings.config_dir()}")
PY
