"""sut.toml: the example loads, defaults are applied, every mistake names the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.sut.config import (
    DEFAULT_HUB_PORT,
    SutConfigError,
    load_sut_config,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "sut.example.toml"

MINIMAL = """
[hub]
system_id = "acme.qlvb.01"
secret = "s3cret-s3cret"
agencies = ["000.00.12.H29"]
[driver]
url = "http://127.0.0.1:8090"
"""


def write(tmp_path: Path, text: str, name: str = "sut.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_example_file_loads_with_its_values() -> None:
    config = load_sut_config(EXAMPLE)
    assert config.name == "QLVB Acme 3.2"
    assert config.hub.port == 8765
    assert config.hub.tls is False
    assert config.hub.system_id == "acme.qlvb.01"
    assert config.hub.agencies == ("000.00.12.H29", "000.01.12.H29")
    assert config.driver.mode == "http"
    assert config.driver.url == "http://127.0.0.1:8090"
    assert config.driver.timeout_s == 10
    assert config.timing.status_timeout_s == 30
    assert config.timing.skew_tolerance_s == 5
    assert config.source == EXAMPLE


def test_defaults(tmp_path: Path) -> None:
    config = load_sut_config(write(tmp_path, MINIMAL, "acme-qlvb.toml"))
    assert config.name == "acme-qlvb"  # the file name when no name is given
    assert config.hub.port == DEFAULT_HUB_PORT
    assert config.hub.tls is False
    assert config.driver.timeout_s == 10.0
    assert config.driver.interactive is False
    assert config.timing.status_timeout_s == 30.0


def test_manual_mode_needs_no_url_and_waits_longer(tmp_path: Path) -> None:
    text = MINIMAL.replace('url = "http://127.0.0.1:8090"', 'mode = "manual"')
    config = load_sut_config(write(tmp_path, text))
    assert config.driver.mode == "manual"
    assert config.driver.url is None
    assert config.timing.status_timeout_s > 30  # an operator is slower than a driver


def test_trailing_slash_of_the_driver_url_is_dropped(tmp_path: Path) -> None:
    config = load_sut_config(write(tmp_path, MINIMAL.replace(":8090", ":8090/")))
    assert config.driver.url == "http://127.0.0.1:8090"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ('url = "http://127.0.0.1:8090"', 'url = "ftp://127.0.0.1:8090"'),
            "driver.url: must be an http(s) URL",
        ),
        (('url = "http://127.0.0.1:8090"', 'url = "127.0.0.1:8090"'), "driver.url: must be an http(s) URL"),
        (('url = "http://127.0.0.1:8090"', ""), "driver.url: missing"),
        (
            ('agencies = ["000.00.12.H29"]', 'agencies = ["000.00.12.H29", "28.22.H17"]'),
            "hub.agencies[1]: '28.22.H17' is not a 13-character agency code",
        ),
        (('agencies = ["000.00.12.H29"]', 'agencies = ["000.00.12.H29", "000.00.12.H29"]'), "listed twice"),
        (('agencies = ["000.00.12.H29"]', "agencies = []"), "hub.agencies: must be a non-empty list"),
        (('agencies = ["000.00.12.H29"]', ""), "hub.agencies: missing"),
        (
            ('system_id = "acme.qlvb.01"', 'sytem_id = "acme.qlvb.01"'),
            "hub.sytem_id: unknown key (did you mean 'system_id'?)",
        ),
        (('secret = "s3cret-s3cret"', 'secret = ""'), "hub.secret: empty"),
        (('system_id = "acme.qlvb.01"', 'system_id = "acme qlvb"'), "hub.system_id:"),
        (("[driver]", '[driver]\nmode = "htp"'), 'driver.mode: must be "http"'),
        (("[driver]", '[driver]\nmode = "htp"'), "did you mean 'http'?"),
        (("[driver]", "[driver]\ntimeout_s = -1"), "driver.timeout_s: must be more than 0"),
        (("[driver]", '[driver]\ntimeout_s = "10"'), "driver.timeout_s: must be a number of seconds"),
        (("[hub]", "[hub]\nport = 0"), "hub.port: must be a TCP port"),
        (("[hub]", '[hub]\ntls = "yes"'), "hub.tls: must be true or false"),
        (
            ("[driver]", "[timming]\nstatus_timeout_s = 5\n[driver]"),
            "timming: unknown key (did you mean 'timing'?)",
        ),
    ],
)
def test_mistakes_name_the_file_and_the_field(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in MINIMAL
    path = write(tmp_path, MINIMAL.replace(old, new, 1))
    with pytest.raises(SutConfigError) as info:
        load_sut_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert expected in message, message


def test_bad_agency_code_cites_the_requirement(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("000.00.12.H29", "vxp.saas.03"))
    with pytest.raises(SutConfigError, match=r"hub\.agencies\[0\]: 'vxp\.saas\.03' .*QD28-10\.2\.a"):
        load_sut_config(path)


def test_missing_hub_table(tmp_path: Path) -> None:
    with pytest.raises(SutConfigError, match=r"hub: missing; add a \[hub\] table"):
        load_sut_config(write(tmp_path, 'name = "x"\n[driver]\nurl = "http://127.0.0.1:1"\n'))


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(SutConfigError, match="no such file"):
        load_sut_config(tmp_path / "nope.toml")
    with pytest.raises(SutConfigError, match="not valid TOML"):
        load_sut_config(write(tmp_path, "[hub\nport = 1"))
