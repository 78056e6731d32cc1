"""The local tooling: the stack, the data generator, landing, the demo.

Needs the ``local`` extra (``pip install sparkify[local]``: moto, rich). Never imported
by a DAG or an operator: an Airflow worker does not install it.
"""
