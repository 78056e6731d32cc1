"""The benchmarks run the model SQL outside Airflow: they must bind what the DAG binds."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from benchmarks.common import model_params
from sparkify.pipeline.sql import MODEL_LOADS, render, statements

PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@pytest.mark.parametrize("mode", ["upsert", "truncate_insert"])
def test_model_params_bind_every_parameter_of_the_model_sql(mode: str) -> None:
    params = model_params(datetime(2018, 11, 3, 5))
    wanted = {
        name
        for load in MODEL_LOADS
        for sql in statements(render(load, mode=mode))
        for name in PLACEHOLDER.findall(sql)
    }
    assert wanted, "the model SQL binds its window"
    assert wanted <= params.keys()


def test_model_params_are_the_hours_window_naive_utc() -> None:
    for hour in (datetime(2018, 11, 3, 5), datetime(2018, 11, 3, 5, tzinfo=UTC)):
        params = model_params(hour)
        assert params["window_start"] == datetime(2018, 11, 3, 5)
        assert params["window_end"] == datetime(2018, 11, 3, 6)
