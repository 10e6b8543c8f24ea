"""The core: events, decisions, the policy contract, the pipeline, the executor, the inbox,
Yakuba's own state and database, commands, offers, config types and message catalogs.

May touch: Yakuba's database, the clock, metrics. Reaches Synapse only through the executor,
which is handed the Matrix side (appservice.matrix) by the application. Never imports a feature.
"""
