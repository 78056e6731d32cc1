"""Where the SQL files and settings files are, in an installed wheel and in a checkout.

The repository keeps them at its top (``sql/``, ``config/``); the wheel ships them inside
this package (``resources/sql``, ``resources/config``: see ``pyproject.toml``), so an
Airflow deployment that installs the package finds them wherever its DAG files are.
"""

from __future__ import annotations

import os
from pathlib import Path

_HERE = Path(__file__).resolve().parent
# An editable install of the checkout imports this file from the checkout itself.
_CHECKOUT = _HERE.parents[2]
ENV = {"sql": "SPARKIFY_SQL_DIR", "config": "SPARKIFY_CONFIG_DIR"}


def resource_dir(name: str) -> Path:
    """The ``sql`` or ``config`` folder: ``$SPARKIFY_SQL_DIR``/``$SPARKIFY_CONFIG_DIR``,
    else the one inside the installed package, else the checkout's."""
    override = os.environ.get(ENV[name])
    if override:
        return Path(override)
    for candidate in (_HERE / name, _CHECKOUT / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"no {name}/ folder in the installed package ({_HERE / name}) nor beside it "
        f"({_CHECKOUT / name}): reinstall the sparkify wheel, or set {ENV[name]}"
    )
