"""federation.partners: validated like every section, and what the rest of Yakuba reads of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from appservice.app.config import config_from_dict
from appservice.core.configerror import ConfigError
from appservice.features.federation.fragment import host_of, render_fragment, synapse_fragment

OWN = "city-a.localhost:18448"


@pytest.fixture
def reg(tmp_path: Path) -> Path:
    path = tmp_path / "registration.yaml"
    path.write_text(yaml.safe_dump({"as_token": "a" * 20, "hs_token": "h" * 20}))
    return path


def load(reg: Path, federation: Any, **extra: Any):
    return config_from_dict({"homeserver": {"url": "http://127.0.0.1:8008", "server_name": OWN},
                             "appservice": {"registration": str(reg)}, "federation": federation, **extra},
                            reg.parent / "y.yaml")


def test_partners_are_read_with_names_and_options(reg: Path) -> None:
    c = load(reg, {"partners": [{"server": "city-b.localhost:28448", "name": "城南町", "tls_verify": False},
                                {"server": "pref.example.jp", "name": "県", "name_en": "Prefecture"}]})
    assert c.federation.servers == ("city-b.localhost:28448", "pref.example.jp")
    assert c.partner_of("@bob:city-b.localhost:28448").name == "城南町"
    assert c.partner_of("@alice:" + OWN) is None          # local
    assert c.partner_of("@eve:city-c.localhost:38448") is None  # not a partner
    assert c.federation.partner("pref.example.jp").label("en") == "Prefecture"


def test_is_local_needs_the_whole_server_part(reg: Path) -> None:
    c = load(reg, {})
    assert c.is_local("@alice:" + OWN)
    assert not c.is_local("@alice:city-a.localhost")          # same host, no port: another server
    assert not c.is_local("@alice:evil-city-a.localhost:18448")
    assert not c.is_local("@alice:x." + OWN)


@pytest.mark.parametrize("federation, key", [
    ({"partners": [{"server": "city-b", "name": "B", "colour": 1}]}, "federation.partners[0].colour"),
    ({"partners": [{"server": "not a server!", "name": "B"}]}, "federation.partners[0].server"),
    ({"partners": [{"server": OWN, "name": "me"}]}, "federation.partners[0].server"),
    ({"partners": [{"server": "b.example", "name": "B"}, {"server": "b.example", "name": "B2"}]},
     "federation.partners[1].server"),
    ({"partners": [{"server": "b.example", "name": " "}]}, "federation.partners[0].name"),
    ({"partners": [{"server": "b.example"}]}, "federation.partners[0].name"),
    ({"partners": [{"server": "b.example", "name": "B", "address": "no-port"}]}, "federation.partners[0].address"),
    ({"partners": "b.example"}, "federation.partners"),
])
def test_bad_partner_entries_name_the_key(reg: Path, federation: Any, key: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load(reg, federation)
    assert str(exc.value).startswith(key), str(exc.value)


def test_a_remote_user_can_never_be_a_yakuba_admin(reg: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load(reg, {}, admins=["@boss:city-b.localhost:28448"])
    assert str(exc.value).startswith("admins[0]")


def test_fragment_lists_partners_and_fetches_keys_from_them(reg: Path) -> None:
    c = load(reg, {"partners": [{"server": "city-b.localhost:28448", "name": "城南町", "tls_verify": False},
                                {"server": "pref.example.jp", "name": "県"}],
                   "ca_file": "ca.crt"})
    frag = synapse_fragment(c.federation)
    assert frag["federation_domain_whitelist"] == ["city-b.localhost:28448", "pref.example.jp"]
    assert frag["trusted_key_servers"] == []
    assert frag["federation_certificate_verification_whitelist"] == ["city-b.localhost"]
    assert frag["federation_custom_ca_list"] == [str(reg.parent / "ca.crt")]
    text = render_fragment(c.federation, OWN, "ja")
    assert text.startswith("# ") and "城南町" in text
    assert yaml.safe_load(text) == frag  # the comment header is YAML comments only


def test_no_partners_means_federate_with_no_one(reg: Path) -> None:
    assert synapse_fragment(load(reg, {}).federation)["federation_domain_whitelist"] == []


@pytest.mark.parametrize("server, host", [("a.example", "a.example"), ("a.example:8448", "a.example"),
                                          ("[::1]:8448", "::1"), ("127.0.0.1:1", "127.0.0.1")])
def test_host_of(server: str, host: str) -> None:
    assert host_of(server) == host
