"""Optional parts of the local environment: built and started only for the targets that
need them (`devenv.py up NAME...`, `make env-up ENV_PARTS=NAME`), so a newcomer's
`make demo` never waits for them.

A part is one module here that says how it is built, started, checked and stopped;
adding one is adding its module and one line to ``PARTS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from procs import Proc, pid_of


@dataclass(frozen=True)
class Part:
    name: str
    build: Callable[[], None]
    procs: list[Proc]
    # Lines for .dev/env.sh while the part runs (tests find the part through them).
    env: Callable[[], dict[str, str]] = field(default=dict)
    # Whether it was built (for a part without processes, what "running" means).
    built: Callable[[], bool] = lambda: True

    def running(self) -> bool:
        return self.built() and all(pid_of(p) and p.healthy() for p in self.procs)


def _registry() -> list[Part]:
    import part_alertmanager
    import part_grafana_operator
    import part_prometheus_operator

    return [part_prometheus_operator.PART, part_alertmanager.PART, part_grafana_operator.PART]


PARTS = _registry()
BY_NAME = {p.name: p for p in PARTS}
