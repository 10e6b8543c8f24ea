"""The base feature's running object (its Parts.component, handed to its commands as
`inv.feature`): the executor, through which the base commands post and audit."""

from __future__ import annotations

from dataclasses import dataclass

from appservice.core.executor import Executor


@dataclass(frozen=True)
class Base:
    executor: Executor
