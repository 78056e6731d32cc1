"""Airflow DAG file of the benchmark stack: the floor of ``stage_songs`` (benchmarks/floor.py)."""

from _floor import build  # linked beside this file in the benchmark stack's DAG folder

build("stage_songs")
