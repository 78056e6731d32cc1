"""What Airflow workers import: assets, operators, staging, SQL loading, settings.

Needs only the runtime dependencies (Airflow, its providers, boto3, psycopg, msgspec).
Nothing here imports ``sparkify.local``, ``sparkify.control`` or ``sparkify.cli``
(``tests/unit/test_layout.py`` checks it).
"""
