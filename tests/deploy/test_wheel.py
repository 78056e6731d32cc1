"""The wheel deploys: installed with no extra into a fresh environment, as an Airflow image
or a managed service installs a package, it parses every DAG and renders its SQL from
another folder, and the local tooling's stand-ins (moto) are not there.

Builds the wheel with ``uv build``, makes a virtual environment with ``uv venv`` and
installs the wheel with the lock's versions as constraints through the image's own install
step (``deploy/install.sh``, with ``uv pip install`` for ``pip install``), then runs a
probe script in that environment with the working directory, ``AIRFLOW_HOME`` and the DAGs
folder all outside the checkout.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.deploy.documented import EXAMPLES, MODES, required_settings

ROOT = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).with_name("uv")
# Parses the DAG files as a deployment's dag-processor would, and loads the settings and
# connections as its tasks would, in the environment the deployment page asks for.
MODE_PROBE = textwrap.dedent(
    """
    import json, sys
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.connection import Connection

    out = {}
    bag = DagBag(dag_folder=sys.argv[1])
    out["import_errors"] = {k: v[-800:] for k, v in bag.import_errors.items()}
    out["dags"] = sorted(bag.dags)
    from sparkify.pipeline import settings
    try:
        loaded = settings.load()
        out["settings"] = {"env": loaded.env, "bucket": loaded.bucket, "region": loaded.region}
        out["ingest"] = settings.ingest_mode()
    except settings.SettingsError as exc:
        out["settings_error"] = str(exc)
    out["connections"] = {
        c: Connection.get_connection_from_secrets(c).conn_type
        for c in ("warehouse", "aws_default")
    }
    print(json.dumps(out))
    """
)
PROBE = textwrap.dedent(
    """
    import importlib.util, json, os, sys
    from pathlib import Path

    out = {"moto": importlib.util.find_spec("moto") is not None,
           "celery": importlib.util.find_spec("celery") is not None}
    import sparkify.pipeline.sql as sql_module
    from sparkify.pipeline import settings
    out["sql_dir"] = str(sql_module.sql_dir())
    out["config_dir"] = str(settings.config_dir())
    out["settings_bucket"] = settings.load("local").bucket

    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder=sys.argv[1])
    out["import_errors"] = {k: v[-500:] for k, v in bag.import_errors.items()}
    out["dags"] = sorted(bag.dags)

    rendered = {}
    for name in sql_module.MODEL_LOADS + ("schema/create_tables",):
        for dialect in ("postgres", "redshift"):
            text = sql_module.render(name, dialect, mode="upsert")
            rendered[f"{name}.{dialect}"] = len(sql_module.statements(text))
    out["rendered"] = rendered
    for module in ("sparkify.local", "sparkify.local.stack.stack", "rich"):
        out[f"loaded:{module}"] = module in sys.modules
    print(json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    if not UV.exists():
        pytest.fail(f"uv is not in the test environment ({UV}): run `make install`")
    work = tmp_path_factory.mktemp("deploy")
    dist, venv, home, dags = work / "dist", work / "venv", work / "airflow", work / "dags"

    def run(*cmd: str, **kw) -> subprocess.CompletedProcess:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)
        assert done.returncode == 0, f"{cmd} exited {done.returncode}:\n{done.stderr[-3000:]}"
        return done

    run(str(UV), "build", "--wheel", "--quiet", "-o", str(dist), str(ROOT))
    (wheel,) = dist.glob("sparkify-*.whl")
    run(str(UV), "venv", "--quiet", "--python", sys.executable, str(venv))
    python = venv / "bin" / "python"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SPARKIFY_", "AIRFLOW", "PYTHON", "VIRTUAL_ENV"))
    }
    env |= {"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    # As a deployment in the default mode (both) sets it, from the deployment page:
    # route_notifications then builds its watcher (the common messaging provider's trigger)
    # from the wheel's deps.
    env |= required_settings("both")
    # The image's own install step (deploy/Dockerfile runs the same script), with uv for pip.
    installed = run(
        "sh", str(ROOT / "deploy" / "install.sh"), str(wheel), str(ROOT / "requirements.lock"),
        cwd=work,
        env=env | {"PIP_INSTALL": f"{UV} pip install -q --python {python}", "PYTHON": str(python)},
    )  # fmt: skip
    shutil.copytree(ROOT / "dags", dags)  # a deployment's DAG folder: the files, no checkout
    (work / "probe.py").write_text(PROBE)
    result = run(str(python), str(work / "probe.py"), str(dags), cwd=work, env=env)
    (work / "mode_probe.py").write_text(MODE_PROBE)
    base = {k: v for k, v in env.items() if k not in EXAMPLES and k != "SPARKIFY_INGEST"}
    return json.loads(result.stdout.strip().splitlines()[-1]) | {
        "venv": str(venv),
        "install_output": installed.stdout,
        "probe_mode": lambda extra: _probe_mode(python, work, dags, base | extra),
    }


def _probe_mode(python: Path, work: Path, dags: Path, env: dict[str, str]) -> dict:
    done = subprocess.run(
        [str(python), str(work / "mode_probe.py"), str(dags)],
        capture_output=True, text=True, timeout=300, cwd=work, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", MODES)
def test_a_deployment_with_exactly_the_documented_settings_parses_and_loads(deployed, mode):
    documented = required_settings(mode)
    assert "SPARKIFY_ENV" in documented
    probed = deployed["probe_mode"](documented)
    assert probed["import_errors"] == {}
    assert len(probed["dags"]) == 8
    assert "settings_error" not in probed, probed.get("settings_error")
    assert probed["settings"]["env"] == "aws"
    assert probed["ingest"] == mode
    assert probed["connections"] == {"warehouse": "redshift", "aws_default": "aws"}


def test_leaving_out_the_queue_fails_to_parse_and_says_what_is_missing(deployed):
    documented = required_settings("both")
    del documented["SPARKIFY_NOTIFICATIONS_QUEUE"]
    probed = deployed["probe_mode"](documented)
    (error,) = [e for k, e in probed["import_errors"].items() if "route_notifications" in k]
    assert "SPARKIFY_NOTIFICATIONS_QUEUE is not set" in error


def test_every_dag_parses_from_the_installed_wheel(deployed):
    assert deployed["import_errors"] == {}
    assert deployed["dags"] == sorted(
        [
            "setup", "detect_landing", "route_notifications", "stage_events", "stage_songs",
            "model", "quality", "restage_late",
        ]
    )  # fmt: skip


def test_sql_and_settings_come_from_the_installed_package(deployed):
    for key in ("sql_dir", "config_dir"):
        path = Path(deployed[key])
        assert path.is_relative_to(deployed["venv"]), f"{key} = {path}"
        assert not path.is_relative_to(ROOT)
    assert deployed["settings_bucket"]
    assert all(n > 0 for n in deployed["rendered"].values()), deployed["rendered"]


def test_the_local_tooling_is_neither_installed_nor_loaded(deployed):
    assert deployed["moto"] is False
    assert deployed["celery"] is False  # the `local` extra's, not a worker's requirement
    assert deployed["loaded:sparkify.local"] is False


def test_the_image_install_step_checks_its_own_result(deployed):
    assert "install.sh: sparkify installed; SQL from " in deployed["install_output"]
    assert deployed["venv"] in deployed["install_output"]


def test_the_deployed_command_line_backfills_any_airflow_and_names_what_is_missing(
    deployed, tmp_path
):
    sparkify = Path(deployed["venv"]) / "bin" / "sparkify"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    helped = subprocess.run(
        [sparkify, "--help"], capture_output=True, text=True, env=env, timeout=60
    )
    assert helped.returncode == 0, helped.stderr
    assert "backfill" in helped.stdout
    assert "sparkify[local]" in helped.stdout  # stack, demo ... are not offered without it
    assert not re.search(r"^\s+(stack|demo|land|generate)\s", helped.stdout, re.M)
    missing = subprocess.run(
        [sparkify, "backfill", "--from", "2018-11-01", "--to", "2018-11-01"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert missing.returncode == 2
    assert "pass --api-url or set SPARKIFY_API_URL" in missing.stderr
    no_login = subprocess.run(
        [sparkify, "backfill", "--from", "2018-11-01", "--to", "2018-11-01"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
        env=env | {"SPARKIFY_API_URL": "https://airflow.example.com"},
    )  # fmt: skip
    assert no_login.returncode == 2
    assert "SPARKIFY_API_TOKEN" in no_login.stderr
