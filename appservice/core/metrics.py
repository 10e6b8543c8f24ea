"""Prometheus metrics, one registry per service instance (tests run several in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.transactions = Counter("yakuba_transactions_total", "Transactions from Synapse",
                                    ["result"], registry=r)
        self.events_received = Counter("yakuba_events_received_total", "Events stored in the inbox",
                                       ["source"], registry=r)
        self.events_processed = Counter("yakuba_events_processed_total",
                                        "Events run through the pipeline", registry=r)
        self.policy_errors = Counter("yakuba_policy_errors_total", "Policies that raised",
                                     ["policy"], registry=r)
        self.decisions = Counter("yakuba_decisions_total", "Decisions performed",
                                 ["kind", "result"], registry=r)
        self.backlog = Gauge("yakuba_inbox_backlog", "Events waiting in the inbox", registry=r)
        self.process_seconds = Histogram("yakuba_event_process_seconds",
                                         "Time to run one event through policies and executor",
                                         registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
