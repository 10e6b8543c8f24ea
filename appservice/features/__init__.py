"""Features: one folder each, one `FEATURE` declaration in its `__init__.py`
(appservice.core.feature.Feature): config section and schema, policies, effect handlers,
commands, ✅-offer actions, tables, background tasks, start/stop hooks, CLI subcommands and
its catalogs (`i18n/` in the folder).

May touch: the core's contracts (policies return decisions; handlers and commands act only
through the executor's API), the pure libraries (appservice.lib). Never the Matrix client
directly; never another feature.
"""
