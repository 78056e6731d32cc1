"""Create the warehouse schema: staging, star schema and the pipeline's own tables.

Owner: sparkify-data. Idempotent (CREATE ... IF NOT EXISTS) and never drops data, so it is
safe to run at any time; run it once before the first load and after upgrades.
When it fails: the log shows the statement; check the `warehouse` connection and the
user's CREATE privilege on the database.
"""

from __future__ import annotations

from airflow.sdk import dag

from sparkify.pipeline.assets import warehouse_schema
from sparkify.pipeline.dag_defaults import DEFAULT_ARGS, ON_FAILURE, START_DATE
from sparkify.pipeline.operators.sql_file import SqlFileOperator


@dag(
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    default_args=DEFAULT_ARGS,
    on_failure_callback=ON_FAILURE,
    tags=["sparkify", "setup"],
    doc_md=__doc__,
)
def setup():
    SqlFileOperator(
        task_id="create_tables",
        sql_file="schema/create_tables",
        partitioned=False,
        outlets=[warehouse_schema],
    )


setup()
