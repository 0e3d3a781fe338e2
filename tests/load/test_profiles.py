"""loadtests/profiles.toml: the shipped profiles, their derivation from the public figures, overrides and
errors that name the field."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest

from simulator.edxml.model import Priority
from simulator.load.profiles import (
    DEFAULT_PROFILES_PATH,
    ProfileError,
    load_profile,
    parse_override,
    profile_names,
)

# The public figures the defaults must derive from (DESIGN/issue 5), restated independently here.
EVENTS_PER_DAY = 30_000
WORKING_DAY_S = 8 * 3600
RECIPIENTS_PER_DOCUMENT = 3.6


def test_shipped_profiles_are_the_four_of_the_issue() -> None:
    assert profile_names() == ["national-soak", "province-peak", "smoke", "stress"]
    for name in profile_names():
        assert load_profile(name).shape == name


def test_rates_derive_from_the_national_figures() -> None:
    mean = EVENTS_PER_DAY / WORKING_DAY_S  # events read as sent documents (the heavier reading)
    soak = load_profile("national-soak")
    assert soak.national.mean_docs_per_s == pytest.approx(mean)
    assert soak.peak_rate == pytest.approx(mean)
    assert soak.duration_s == 30 * 60
    peak = load_profile("province-peak")
    assert peak.peak_rate == pytest.approx(10 * mean)  # the morning burst, 10 × the daily mean
    baseline = peak.stages()[0]
    assert baseline.rate_from == pytest.approx(mean)
    # the other reading of "event" (one per recipient) gives 3.6 times fewer documents
    other = load_profile("national-soak", overrides=["national.events_are=deliveries"])
    assert other.peak_rate == pytest.approx(mean / RECIPIENTS_PER_DOCUMENT)


def test_mixes_match_the_figures() -> None:
    profile = load_profile("province-peak")
    assert profile.mean_recipients == pytest.approx(RECIPIENTS_PER_DOCUMENT, abs=0.05)
    weights = dict(profile.priority_mix)
    assert weights[Priority.NORMAL] / sum(weights.values()) > 0.5  # mostly normal
    assert all(weights[p] > 0 for p in Priority)  # every degree of urgency occurs
    sizes = profile.size_mix
    assert min(c.min_bytes for c in sizes) == 5_000 and max(c.max_bytes for c in sizes) == 5_000_000
    small = sum(c.weight for c in sizes if c.max_bytes <= 50_000)
    large = sum(c.weight for c in sizes if c.min_bytes >= 2_000_000)
    assert small > 0.5 > large > 0  # mostly small, few large


def test_smoke_is_short_and_soak_is_long() -> None:
    smoke = load_profile("smoke")
    assert smoke.duration_s <= 20
    assert 0 < smoke.expected_documents < 100
    assert load_profile("national-soak").duration_s >= 1800


def test_stress_steps_rise_geometrically() -> None:
    stress = load_profile("stress")
    stages = stress.stages()
    assert len(stages) == stress.stress.steps
    rates = [s.rate_from for s in stages]
    assert rates[0] == pytest.approx(stress.stress.start_multiplier * EVENTS_PER_DAY / WORKING_DAY_S)
    for a, b in itertools.pairwise(rates):
        assert b == pytest.approx(a * stress.stress.step_factor)
    assert stages[-1].end_s == pytest.approx(stress.duration_s)
    assert all(math.isclose(s.length_s, stress.duration_s / stress.stress.steps) for s in stages)


def test_province_peak_stages_cover_the_run() -> None:
    peak = load_profile("province-peak", duration_s=100)
    stages = peak.stages()
    assert [s.name for s in stages] == ["baseline", "ramp", "peak", "cool-down"]
    assert stages[0].start_s == 0 and stages[-1].end_s == 100
    for a, b in itertools.pairwise(stages):
        assert a.end_s == pytest.approx(b.start_s)
    assert peak.rate_at(50) == pytest.approx(peak.peak_rate)
    assert peak.rate_at(20) == pytest.approx((stages[0].rate_from + peak.peak_rate) / 2)  # mid-ramp
    assert peak.rate_at(100) == 0  # the sending phase is over


def test_overrides_reach_nested_settings() -> None:
    p = load_profile(
        "smoke",
        overrides=["slo.pickup_p95_s=3", "sut_share=0.2", "hub_signature=enforce", "priority_mix.flash=0.5"],
    )
    assert p.slo.pickup_p95_s == 3
    assert p.slo.accept_p95_s == load_profile("smoke").slo.accept_p95_s  # the rest of the table stays
    assert p.sut_share == 0.2
    assert p.hub_signature == "enforce"
    assert dict(p.priority_mix)[Priority.FLASH] == 0.5
    assert p.overrides == (
        "slo.pickup_p95_s=3",
        "sut_share=0.2",
        "hub_signature=enforce",
        "priority_mix.flash=0.5",
    )


def test_duration_and_users_options() -> None:
    base = load_profile("province-peak")
    p = load_profile("province-peak", duration_s=60, users=7)
    assert p.duration_s == 60
    assert p.peak_senders == 7  # the peak needs exactly the asked users…
    assert p.peak_rate == pytest.approx(7 * p.sender_rate_per_user)
    ratio = p.peak_rate / base.peak_rate  # … and the whole curve scales with it
    assert p.stages()[0].rate_from == pytest.approx(base.stages()[0].rate_from * ratio)


def test_parse_override_reads_toml_values() -> None:
    assert parse_override("a.b=3") == ("a.b", 3)
    assert parse_override("x=0.25") == ("x", 0.25)
    assert parse_override('s="warn"') == ("s", "warn")
    assert parse_override("s=warn") == ("s", "warn")
    assert parse_override("m=[[5, 50, 1]]") == ("m", [[5, 50, 1]])
    with pytest.raises(ProfileError, match="key=value"):
        parse_override("no-equals-sign")


@pytest.mark.parametrize(
    ("override", "names"),
    [
        ("slo.pickup=3", ["slo", "pickup", "pickup_p95_s"]),
        ("nonsense=1", ["nonsense", "sut_share"]),
        ("sut_share=1.5", ["sut_share", "at most 1"]),
        ("duration_s=abc", ["duration_s", "number"]),
        ("hub_signature=sometimes", ["hub_signature", "enforce"]),
        ("harness_systems=0", ["harness_systems", "between 1"]),
        ("priority_mix.hurry=1", ["priority_mix", "hurry"]),
        ("recipients_mix.0=1", ["recipients_mix.0", "recipient counts"]),
        ("size_mix=[[1, 9000, 1]]", ["size_mix[0]", "5000"]),
        ("slo=3", ["slo", "is a table"]),
        ("stress.steps=0", ["stress.steps", "between 1 and 100"]),
    ],
)
def test_bad_overrides_name_the_field(override: str, names: list[str]) -> None:
    with pytest.raises(ProfileError) as err:
        load_profile("smoke", overrides=[override])
    for name in names:
        assert name in str(err.value)


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(ProfileError, match="province-peak") as err:
        load_profile("rush-hour")
    assert "rush-hour" in str(err.value)


def _copy_with(tmp_path: Path, old: str, new: str) -> Path:
    text = DEFAULT_PROFILES_PATH.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "profiles.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_a_wrong_file_names_the_file_and_the_field(tmp_path: Path) -> None:
    path = _copy_with(tmp_path, 'shape = "province-peak"', 'shape = "province-peak"\nsut_shares = 0.1')
    with pytest.raises(ProfileError) as err:
        load_profile("province-peak", path=path)
    assert str(path) in str(err.value) and "profiles.province-peak.sut_shares" in str(err.value)
    path = _copy_with(tmp_path, "pickup_p95_s = 30.0", 'pickup_p95_s = "soon"')
    with pytest.raises(ProfileError, match=r"profiles\.stress\.slo\.pickup_p95_s: must be a number"):
        load_profile("stress", path=path)
    broken = tmp_path / "broken.toml"
    broken.write_text("[defaults\n", encoding="utf-8")
    with pytest.raises(ProfileError, match="not valid UTF-8 TOML"):
        load_profile("smoke", path=broken)
    with pytest.raises(ProfileError, match="no such profiles file"):
        load_profile("smoke", path=tmp_path / "missing.toml")


def test_as_dict_is_plain_data() -> None:
    import json

    data = load_profile("stress").as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["derived"]["peak_senders"] == load_profile("stress").peak_senders
