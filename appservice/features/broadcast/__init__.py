"""一斉送信 — broadcasts with read confirmation, to all staff, departments or partner
municipalities (docs/broadcast.md).

    broadcast:
      enabled: true
      municipality: 城北市          # how recipients see the sender (default: the server name)
      directory: null               # staff directory (department per user); default: retention's
      max_chars: 4000
      send_concurrency: 8
      retries: 3                    # a failed delivery (an unreachable partner) is tried again…
      retry_seconds: 10             # …after 10, 20, 30 s
      reminder_poll_seconds: 30
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from appservice.core.config import Config
from appservice.core.decisions import Decision, Effect, Notice
from appservice.core.events import Event
from appservice.core.feature import Command, Feature, Parts, Runtime
from appservice.core.schema import Bool, Int, Schema, Str
from appservice.core.services import Services
from appservice.core.state import OfferRow
from appservice.features.broadcast.commands import OFFER_ACTION, SUBCOMMANDS, broadcast, confirm_and_send
from appservice.features.broadcast.policy import CONFIRM, BroadcastPolicy
from appservice.features.broadcast.runtime import Broadcasts
from appservice.features.broadcast.tables import TABLES, BroadcastTables

SCHEMA = Schema("broadcast", {
    "enabled": Bool(True),
    "municipality": Str(None),
    "directory": Str(None),
    "max_chars": Int(4000, lo=10, hi=30000),
    "send_concurrency": Int(8, lo=1, hi=64),
    "retries": Int(3, lo=0, hi=10),
    "retry_seconds": Int(10, lo=0, hi=3600),
    "reminder_poll_seconds": Int(30, lo=1, hi=3600),
})


def _settings(raw: Any, config: Config) -> dict[str, Any]:
    return SCHEMA.validate(raw)


def setup(runtime: Runtime, settings: dict[str, Any]) -> Parts:
    tables = BroadcastTables(runtime.db)
    feature = Broadcasts(runtime.services, runtime.executor, tables, settings)
    runtime.services.receipt_listeners.append(feature.on_receipt)

    async def on_confirm(effect: Effect, event: Event, svc: Services) -> None:
        await tables.confirmed(int(effect.payload["broadcast"]), str(effect.payload["target"]), event.sender,
                               svc.clock.now().timestamp())

    async def on_offer(offer: OfferRow, event: Event, svc: Services) -> Sequence[Decision]:
        msg = await confirm_and_send(feature, str(offer.detail.get("code", "")), event.sender)
        return [Notice(room_id=offer.room_id, message=msg, once_key=f"broadcast_offer:{event.event_id}")]

    return Parts(component=feature, policies=[BroadcastPolicy(tables)], effects={CONFIRM: on_confirm},
                 offer_actions={OFFER_ACTION: on_offer}, background=[feature.remind_loop],
                 on_stopping=[feature.stop])


FEATURE = Feature(
    name="broadcast",
    description="一斉送信: to all staff, departments or partner municipalities, with read confirmation",
    section="broadcast",
    settings=_settings,
    enabled=lambda s: s["enabled"],
    setup=setup,
    commands=(Command("broadcast", usage="broadcast <all|dept:名前|partners|partner:名前> [--urgent] "
                                         "[--remind 分] [--disaster on|off] ＋改行してタイトルと本文",
                      summary_key="broadcast.help.summary", handler=broadcast, subcommands=SUBCOMMANDS),),
    tables=(TABLES,),
)
