"""The local stack on 127.0.0.1: PostgreSQL, the S3 endpoint and Airflow's processes."""
