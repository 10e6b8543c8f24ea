"""The embedded stack for `make run` and the integration tests: Synapse on SQLite on loopback,
configured for Yakuba, plus the generated registration and yakuba.yaml under one data dir."""
