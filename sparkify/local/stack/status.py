"""``Stack.status``: each part's PID, port and health, as its ``Part`` probes it."""

from __future__ import annotations

from sparkify.local.stack import parts as stack_parts
from sparkify.local.stack.config import REDSHIFT_PART, PartStatus, executor_parts
from sparkify.local.stack.state import StackState


class StatusReport(StackState):
    """``status`` of ``Stack``."""

    def status(self) -> dict[str, PartStatus]:
        """Each part's PID, port and health."""
        cfg = self._read_config()
        wanted = set()
        for component in (cfg or {}).get("components", []):
            wanted |= set(stack_parts.parts_of(component))
            if component == "airflow":
                wanted |= set(executor_parts(cfg))
        if (cfg or {}).get("warehouse") == "redshift" and "postgres" in wanted:
            wanted.add(REDSHIFT_PART)
        names = self.parts(cfg)
        survey = stack_parts.Survey(cfg or {}, names, self.pid)
        result: dict[str, PartStatus] = {}
        for name in names:
            part = stack_parts.part(name)
            pid = self.pid(name)
            port = cfg["ports"].get(part.port) if cfg and part.port else None
            if cfg is None or pid is None:
                ok, detail = False, "not running"
            else:
                ok, detail = part.probe(survey, name)
            state = "healthy" if ok else ("unhealthy" if pid else "stopped")
            result[name] = PartStatus(
                pid=pid, port=port, healthy=ok, wanted=name in wanted, state=state,
                detail=detail, log=str(self.log_path(name)),
            )  # fmt: skip
        return result
