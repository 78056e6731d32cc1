"""Where Airflow's metadata template is kept, and that it is written whole and private."""

from __future__ import annotations

import os
import stat
from importlib.metadata import version

from sparkify.local.stack import template


def test_the_template_is_kept_per_airflow_and_postgresql_version(tmp_path):
    environ = {"SPARKIFY_CACHE_DIR": str(tmp_path / "cache")}
    path = template.template_path("15", environ)
    assert (
        path == tmp_path / "cache" / f"airflow-metadata-{version('apache-airflow-core')}-pg15.dump"
    )
    assert template.template_path("16", environ) != path
    assert template.cache_dir({"XDG_CACHE_HOME": "/x"}) == template.Path("/x/sparkify")
    assert template.cache_dir({}).name == "sparkify"


def test_a_saved_template_is_whole_and_its_owner_s_alone(tmp_path):
    old = os.umask(0)
    try:
        path = tmp_path / "cache" / "t.dump"
        template.save(path, b"first")
        template.save(path, b"second")
    finally:
        os.umask(old)
    assert path.read_bytes() == b"second"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["t.dump"]  # no temporary file left
