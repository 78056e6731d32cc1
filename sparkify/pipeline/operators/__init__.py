"""Airflow operators of the Sparkify pipelines."""
