"""Live progress bars, one per DAG (rich, when it is installed and the terminal is a TTY)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass


class ProgressBars:
    """One rich progress bar per DAG: partitions done out of all, and what is in flight."""

    def __init__(self, enabled: bool, tracked: list, total: int, console) -> None:
        self.enabled, self.tracked, self.total, self.console = enabled, tracked, total, console
        self._progress = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> ProgressBars:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description:<13}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("partitions"),
                TimeElapsedColumn(),
                TextColumn("{task.fields[detail]}"),
                console=self.console or Console(stderr=True),
            )
            self._progress.__enter__()
            for dag in self.tracked:
                self._tasks[dag.dag_id] = self._progress.add_task(
                    dag.dag_id, total=self.total, detail=""
                )
        return self

    def update(self, tracked: list) -> None:
        if self._progress is None:
            return
        for dag in tracked:
            self._progress.update(
                self._tasks[dag.dag_id], completed=len(dag.latest()), detail=dag.detail()
            )

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
