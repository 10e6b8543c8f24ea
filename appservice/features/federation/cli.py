"""`yakuba federation` (print the Synapse fragment for the partners in yakuba.yaml) and
`yakuba federation check` (compare it with what Synapse runs; exit 1 on an error)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from appservice.core.config import Config
from appservice.core.executor import render
from appservice.features.federation.check import run_check
from appservice.features.federation.fragment import render_fragment
from appservice.matrix.client import MatrixClient

MARK = {"ok": "✔", "warn": "!", "error": "✘"}


def federation_main(argv: list[str], config: Config) -> int:
    parser = argparse.ArgumentParser(prog="yakuba federation",
                                     description="Synapse settings for federation.partners, and a check")
    parser.add_argument("action", nargs="?", choices=("fragment", "check"), default="fragment")
    parser.add_argument("--json", action="store_true", help="check: one JSON object per finding")
    args = parser.parse_args(argv)
    if args.action == "fragment":
        sys.stdout.write(render_fragment(config.federation, config.homeserver.server_name, config.locale))
        return 0
    return asyncio.run(_check(config, args.json))


async def _check(config: Config, as_json: bool) -> int:
    client = MatrixClient(config.homeserver.url, config.appservice.as_token, config.sender,
                          as_sender=config.as_user_id)
    try:
        findings = await run_check(config, client)
    finally:
        await client.close()
    for f in findings:
        text = render(f.message, config.locale)
        if as_json:
            print(json.dumps({"level": f.level, "key": f.message.key, "text": text}, ensure_ascii=False))
        else:
            print(f"{MARK[f.level]} {text}")
    return 1 if any(f.level == "error" for f in findings) else 0
