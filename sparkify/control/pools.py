"""Creating the pools the DAGs use (``sparkify.pipeline.pools``) through the REST API."""

from __future__ import annotations

from sparkify.control.api import ApiClient, ApiError
from sparkify.pipeline.pools import POOLS


def ensure_pools(client: ApiClient) -> list[str]:
    """Create each pool that is missing and give each its slots; the names changed."""
    changed = []
    for pool in POOLS:
        body = {"name": pool.name, "slots": pool.slots, "description": pool.description}
        try:
            current = client.get(f"/pools/{pool.name}")
        except ApiError as exc:
            if exc.status_code != 404:
                raise
            client.post("/pools", {**body, "include_deferred": False})
            changed.append(pool.name)
            continue
        if current.get("slots") != pool.slots:
            client.patch(f"/pools/{pool.name}", {"slots": pool.slots}, update_mask="slots")
            changed.append(pool.name)
    return changed
