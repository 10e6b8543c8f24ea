"""Federation: partner municipalities' homeservers (`federation.partners`, a core section read
by every feature — retention names a remote sender's municipality from it).

This feature keeps Synapse's allow-list and the partner list one thing: `yakuba federation`
renders the Synapse fragment, `yakuba federation check` compares it with what Synapse runs,
`!yakuba federation status` tells admins which partners answer and when each was last heard
from, and a server that is not a partner is told to the admins the first time it is seen.
docs/federation.md is for the admins of two towns who want to connect.
"""

from __future__ import annotations

from typing import Any

from appservice.core.config import Config
from appservice.core.feature import CliCommand, Command, Feature, Parts, Runtime, need_config
from appservice.features.federation.commands import status
from appservice.features.federation.seen import SEEN, TABLES, RemoteSeenPolicy, SeenTable, seen_handler


def setup(runtime: Runtime, settings: Any) -> Parts:
    table = SeenTable(runtime.db)
    return Parts(component=table, policies=[RemoteSeenPolicy()], effects={SEEN: seen_handler(table)},
                 background=[table.flush_loop], on_stopping=[table.flush])


def _federation_cli(argv: list[str], config: Config | None) -> int:
    from appservice.features.federation.cli import federation_main

    return federation_main(argv, need_config(config))


FEATURE = Feature(
    name="federation",
    description="partner municipalities: Synapse allow-list, check, status",
    setup=setup,
    commands=(Command("federation", usage="federation status", summary_key="federation.help.summary",
                      handler=status, subcommands=("status",)),),
    tables=(TABLES,),
    cli=(CliCommand("federation", "Synapse fragment for federation.partners; `federation check`",
                    _federation_cli),),
)
