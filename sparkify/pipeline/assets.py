"""The Assets that chain the DAGs, declared once; their URIs name the real tables."""

from __future__ import annotations

from airflow.sdk import Asset

warehouse_schema = Asset(name="warehouse_schema", uri="sparkify://warehouse/schema")
staged_events = Asset(name="staged_events", uri="sparkify://warehouse/staging_events")
staged_songs = Asset(name="staged_songs", uri="sparkify://warehouse/staging_songs")
modeled = Asset(name="modeled", uri="sparkify://warehouse/songplays")
checked = Asset(name="checked", uri="sparkify://warehouse/check_results")
