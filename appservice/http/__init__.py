"""The HTTP side: what Synapse calls (transactions, user/room queries, ping) and /health, /metrics."""
