"""Partition health: which hours loaded, which failed a check and with what value, what
each hour rejected and why, how many plays matched a song.

Served as an Airflow plugin page at ``/sparkify/`` on the api-server (``plugin``) and written
as one static HTML file by ``sparkify report`` (``sparkify.cli.report``). Both gather the
same ``model.Health`` (``warehouse`` reads the pipeline's own tables, ``runs`` Airflow's run
states) and render it with ``page``.
"""
