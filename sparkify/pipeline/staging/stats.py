"""What one staging run read, staged and rejected: the reconciliation counts."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sparkify.pipeline.records import DRIFT_JSON_BYTES, drift_json


@dataclass
class StageStats:
    """Counts for one partition of one data set; ``read = staged + rejected + duplicate``
    when nothing went missing. Each term is counted on its own: ``read`` from the object
    bytes, ``staged`` by the rows that went in, ``rejected`` by the rejects written,
    ``duplicate`` by the copies detected.
    """

    dataset: str
    partition_key: str
    objects: int = 0
    read: int = 0
    staged: int = 0
    rejected: int = 0
    duplicate: int = 0
    coerced: int = 0
    source_keys: list[str] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    drift: dict[str, dict[str, int]] = field(default_factory=dict)
    # Rows handed to COPY (PostgreSQL's direct path), before any of them could conflict.
    written: int = 0
    # True when the ledger showed the partition's objects unchanged and nothing was reloaded.
    unchanged: bool = False

    def as_extra(self, key_limit: int = 200) -> dict[str, Any]:
        """The Asset event's ``extra``: JSON-safe, bounded in size."""
        return {
            "dataset": self.dataset,
            "partition_key": self.partition_key,
            "objects": self.objects,
            "rows_read": self.read,
            "rows_staged": self.staged,
            "rows_rejected": self.rejected,
            "rows_duplicate": self.duplicate,
            "rows_coerced": self.coerced,
            "source_keys": self.source_keys[:key_limit],
            "source_keys_truncated": len(self.source_keys) > key_limit,
            "reject_reasons": dict(self.reasons.most_common(20)),
            "drift": json.loads(drift_json(self.drift, DRIFT_JSON_BYTES)),
            "unchanged": self.unchanged,
        }
