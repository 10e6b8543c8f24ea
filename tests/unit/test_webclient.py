"""The `make run` web client server (appservice/app/devstack/webclient.py), on a fake dist/."""

from __future__ import annotations

from pathlib import Path

from appservice.app.devstack import webclient
from appservice.core.formatting import permalink_template


def fake_dist(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    (dist / "olm").mkdir(parents=True)
    (dist / "index.html").write_text("<!DOCTYPE html><title>Yakuba Web</title>")
    (dist / "olm" / "olm.wasm").write_bytes(b"\0asm\1\0\0\0")
    return dist


async def test_serves_the_client_its_config_and_wasm(aiohttp_client, tmp_path: Path) -> None:
    client = await aiohttp_client(webclient.make_app(fake_dist(tmp_path), "http://127.0.0.1:8008"))
    index = await client.get("/")
    assert index.status == 200 and "Yakuba Web" in await index.text()
    config = await client.get("/config.json")
    assert await config.json() == {"defaultHomeServer": "http://127.0.0.1:8008"}
    wasm = await client.get("/olm/olm.wasm")
    assert wasm.headers["Content-Type"] == "application/wasm"  # libolm's streaming compile needs it
    assert (await client.get("/../registration.yaml")).status == 404


def test_without_node_the_client_is_skipped_with_a_reason(tmp_path: Path, monkeypatch, capsys) -> None:
    web = tmp_path / "web"
    web.mkdir()
    (web / "package-lock.json").write_text("{}")
    monkeypatch.setattr(webclient.shutil, "which", lambda _: None)
    assert webclient.build(web) is None
    assert "node and npm are not installed" in capsys.readouterr().out


def test_make_run_links_open_the_room_in_this_client() -> None:
    template = webclient.yakuba_config()["links"]["permalink"]  # type: ignore[index]
    assert permalink_template(template) == "http://127.0.0.1:8080/#/last-session/open-room/{room_id}"
    assert "none" in webclient.banner_line(None)
