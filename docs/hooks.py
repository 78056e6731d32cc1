"""MkDocs hooks: the reference pages are generated from the code at build time.

``reference/settings.md``, ``reference/cli.md`` and ``reference/dags.md`` come from
``sparkify.reference.pages``; the line ``<!-- figures -->`` on ``benchmarks.md`` becomes
the current figures of ``benchmarks/results.json``.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File, Files

from sparkify.cli.main import build_parser
from sparkify.reference import pages

ROOT = Path(__file__).resolve().parents[1]
FIGURES = "<!-- figures -->"


def on_files(files: Files, config) -> Files:
    generated = {
        "reference/settings.md": pages.settings_page(ROOT / "config"),
        "reference/cli.md": pages.cli_page(build_parser()),
        "reference/dags.md": pages.dags_page(
            ROOT / "dags", ROOT / "sparkify" / "pipeline" / "operators"
        ),
    }
    for uri, content in generated.items():
        files.append(File.generated(config, uri, content=content))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.src_uri == "benchmarks.md" and FIGURES in markdown:
        results = pages.load_results(ROOT / "benchmarks" / "results.json")
        return markdown.replace(FIGURES, pages.benchmark_figures(results))
    return markdown
