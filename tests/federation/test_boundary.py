"""The allow-list and the tools around it: city-c is on nobody's list; `yakuba federation`
renders what Synapse runs and `yakuba federation check` proves it."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from tests.federation.support import fresh
from tests.integration.mx import MatrixError, User

pytestmark = pytest.mark.integration


async def test_an_invite_to_a_server_not_on_the_list_is_refused_with_a_clear_error(cities):
    a, c = cities["city-a"], cities["city-c"]
    inviter = await User.login(a.hs.url, fresh(a, "inv"))
    room = await inviter.create_room(name="招待拒否テスト")
    with pytest.raises(MatrixError) as exc:
        await inviter.call("POST", f"/_matrix/client/v3/rooms/{room}/invite", {"user_id": c.user_id("carol")})
    assert exc.value.status == 403
    assert exc.value.body.get("errcode") == "M_FORBIDDEN"
    assert exc.value.body.get("error") == f"Federation denied with {c.server_name}."


async def test_create_room_with_a_refused_invite_fails_but_leaves_an_orphan_room(cities):
    a, c = cities["city-a"], cities["city-c"]
    inviter = await User.login(a.hs.url, fresh(a, "orph"))
    before = set(await inviter.joined_rooms())
    with pytest.raises(MatrixError) as exc:
        await inviter.create_room(invite=[c.user_id("carol")], name="孤立ルーム")
    assert exc.value.status == 403
    orphans = set(await inviter.joined_rooms()) - before
    assert len(orphans) == 1  # docs/federation.md explains it: leave it, or invite colleagues


async def test_the_stranger_cannot_invite_our_staff(cities):
    a, c = cities["city-a"], cities["city-c"]
    stranger = await User.login(c.hs.url, "carol")
    with pytest.raises(MatrixError) as exc:
        await stranger.create_room(invite=[a.user_id("alice")], name="怪しい招待")
    assert exc.value.status in (403, 502)
    staff = await User.login(a.hs.url, "alice")
    invites = await staff.invited_rooms()
    for room in invites:  # nothing from city-c ever reached city-a
        assert not room.endswith(c.server_name)


def _cli(config_path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "appservice.app.cli", "--config", str(config_path), *args],
                          capture_output=True, text=True, timeout=120)


def test_fragment_matches_what_synapse_runs(cities):
    a, b = cities["city-a"], cities["city-b"]
    out = _cli(a.yakuba.config_path, "federation")
    assert out.returncode == 0, out.stderr
    frag = yaml.safe_load(out.stdout)
    hs = yaml.safe_load((a.hs.root / "synapse" / "homeserver.yaml").read_text())
    assert frag["federation_domain_whitelist"] == [b.server_name] == hs["federation_domain_whitelist"]
    assert "城南町" in out.stdout


def test_check_passes_on_the_running_stack_and_fails_for_a_partner_synapse_refuses(cities, tmp_path):
    a, c = cities["city-a"], cities["city-c"]
    ok = _cli(a.yakuba.config_path, "federation", "check")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "許可リストは有効" in ok.stdout and "署名鍵も確認" in ok.stdout and "城南町" in ok.stdout

    cfg = yaml.safe_load(a.yakuba.config_path.read_text())
    cfg["federation"]["partners"].append({"server": c.server_name, "name": "無関係村",
                                          "address": f"127.0.0.1:{c.fed_port}"})
    bad = tmp_path / "yakuba.yaml"
    bad.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    out = _cli(bad, "federation", "check")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "無関係村" in out.stdout and "許可リストに入っていません" in out.stdout
    assert "federation_domain_whitelist" in out.stdout  # the config file differs too
