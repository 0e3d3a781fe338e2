"""Build a report from synthetic run directories: files, verdicts, schema, HTML, PDF status."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest
from lxml import html as lxml_html

from simulator import __version__
from simulator.pki.ca import TestCA
from simulator.report import render_pdf as render_pdf_mod
from simulator.report.build import BuildResult, ReportExistsError, build_report
from simulator.report.collect import ReportInputError
from simulator.report.manifest import ReportSigner
from simulator.report.schema import load_schema, validate
from simulator.report.verify import verify
from simulator.requirements import catalogue
from tests.report import runs

COVERAGE = {"QD28-4.1": ["TC-RECV-003"]}  # the suite "covers" QD28-4.1 but this run did not select it


def build(tmp_path: Path, signer: ReportSigner, *, with_load: bool = False, name: str = "S1") -> BuildResult:
    conf = runs.write_conformance(tmp_path / "conf")
    load = runs.write_load(tmp_path / "load") if with_load else None
    return build_report(
        conf,
        tmp_path / "reports" / name,
        signer=signer,
        load_dir=load,
        session_id=name,
        pdf="off",
        coverage=COVERAGE,
    )


def test_files_of_a_report(tmp_path: Path, signer: ReportSigner) -> None:
    result = build(tmp_path, signer, with_load=True)
    d = result.directory
    present = sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file())
    assert present == sorted(
        [
            "cucumber.json",
            "junit.xml",
            "report.html",
            "report.json",
            "signer.pem",
            "manifest.json",
            "manifest.sig",
            "evidence/evidence.jsonl",
            "evidence/run.json",
            "evidence/packages/sent-1.edxml",
            "load/slo.json",
            "load/locust_stats_history.csv",
            "load/locust_stats.csv",
            "load/locust_failures.csv",
            "load/locust.html",
            "load/locust.json",
        ]
    )  # never the run's target/ (test keys) nor the load run's hub.db
    data = json.loads((d / "report.json").read_text(encoding="utf-8"))
    assert sorted(data["files"]) == sorted(p for p in present if p not in ("manifest.json", "manifest.sig"))
    assert not list((tmp_path / "reports").glob(".*partial*"))


def test_verdicts_in_report_json(tmp_path: Path, signer: ReportSigner) -> None:
    data = json.loads((build(tmp_path, signer).directory / "report.json").read_text(encoding="utf-8"))
    rows = {r["id"]: r for r in data["requirements"]}
    assert list(rows) == catalogue().ids()
    assert {rid: rows[rid]["verdict"] for rid in runs.EXPECTED} == runs.EXPECTED
    assert rows["QD28-4.1"]["reason"].startswith("not run in this session")
    assert rows["VXP-AUTH"]["reason"] == f"no scenario of suite version {__version__} covers it"
    assert all(rows[r]["reason"] == "no load profile was run" for r in rows if r.startswith("OPS-"))
    assert "driver cannot present hub certificates" in rows["QD28-13.2"]["reason"]
    assert data["summary"]["conclusion"] == "DOES NOT CONFORM"
    assert data["summary"]["failed"] == ["QD28-6.1", "QD28-9.1"]
    assert data["sut"]["name"] == "QLVB Acme 3.2" and data["harness_version"] == __version__
    assert data["catalogue_version"] == catalogue().version and data["load"] is None
    assert data["signer"]["subject"] == signer.info().subject
    assert data["pdf"] == {
        "produced": False,
        "engine": None,
        "reason": "PDF output was turned off (--pdf off)",
    }


def test_load_decides_ops_rows(tmp_path: Path, signer: ReportSigner) -> None:
    data = build(tmp_path, signer, with_load=True).report.to_dict()
    rows = {r["id"]: r for r in data["requirements"]}
    assert {r: rows[r]["verdict"] for r in rows if r.startswith("OPS-")} == {
        "OPS-PICKUP": "PASS",
        "OPS-ACCEPT": "FAIL",
        "OPS-ERRORS": "PASS",
        "OPS-THROUGHPUT": "PASS",
        "OPS-LOSS": "NOT TESTED",
    }
    assert "7.5 s > 5 s" in rows["OPS-ACCEPT"]["reason"]
    assert data["load"]["files"][0].startswith("load/")


def test_report_json_matches_schema_and_schema_is_strict(tmp_path: Path, signer: ReportSigner) -> None:
    data = json.loads(
        (build(tmp_path, signer, with_load=True).directory / "report.json").read_text(encoding="utf-8")
    )
    assert validate(data) == []
    data["requirements"][0]["verdict"] = "MAYBE"
    del data["summary"]["conclusion"]
    data["extra"] = 1
    problems = validate(data)
    assert any("$.requirements[0].verdict: 'MAYBE' is not one of" in p for p in problems)
    assert any("$.summary: required field 'conclusion' is missing" in p for p in problems)
    assert any("unexpected field 'extra'" in p for p in problems)
    # every property the schema documents carries a description somewhere up its tree
    assert load_schema()["$defs"]["requirement"]["properties"]["text_vi"]["description"]


def test_a_version_1_report_still_reads(tmp_path: Path, signer: ReportSigner) -> None:
    data = json.loads((build(tmp_path, signer).directory / "report.json").read_text(encoding="utf-8"))
    assert data["schema_version"] == 2 and "not_run" in data["summary"]
    del data["summary"]["not_run"]  # what a schema_version 1 report looks like
    data["schema_version"] = 1
    assert validate(data) == []
    data["schema_version"] = 3
    assert any("schema_version" in p for p in validate(data))


def test_html_is_self_contained_with_summary_and_rows(tmp_path: Path, signer: ReportSigner) -> None:
    result = build(tmp_path, signer, with_load=True)
    text = (result.directory / "report.html").read_text(encoding="utf-8")
    doc = lxml_html.fromstring(text)
    assert "DOES NOT CONFORM" in doc.get_element_by_id("summary").text_content()
    row = doc.get_element_by_id("req-QD28-9.1")
    assert "FAIL" in row.text_content() and catalogue()["QD28-9.1"].text_vi in row.text_content()
    assert "TC-SIG-001" in row.text_content()
    assert "NOT APPLICABLE" in doc.get_element_by_id("req-QD28-13.2").text_content()
    cover = doc.get_element_by_id("cover").text_content()
    assert all(
        x in cover for x in ("QLVB Acme 3.2", "S1", __version__, catalogue().version, signer.info().subject)
    )
    # every internal link lands on an element; nothing is fetched from elsewhere
    ids = set(doc.xpath("//@id"))
    anchors = [h[1:] for h in doc.xpath("//a/@href") if h.startswith("#")]
    assert anchors and all(a in ids for a in anchors)
    for href in doc.xpath("//a/@href"):
        assert href.startswith("#") or (result.directory / href).is_file(), href
    assert not doc.xpath("//script | //link | //img | //iframe | //*[@src]")
    assert not re.search(r"url\(|@import", text)
    assert "@media print" in text
    assert len(doc.xpath("//svg")) == 3 and doc.xpath("//svg//polyline")
    # run data is escaped, never markup
    assert "signature &lt;bad&gt;" in text


def test_existing_report_is_never_overwritten(tmp_path: Path, signer: ReportSigner) -> None:
    build(tmp_path, signer)
    with pytest.raises(ReportExistsError, match="already holds files"):
        build_report(
            tmp_path / "conf", tmp_path / "reports" / "S1", signer=signer, pdf="off", coverage=COVERAGE
        )


def test_bad_input_leaves_nothing_behind(
    tmp_path: Path, signer: ReportSigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = runs.write_conformance(tmp_path / "conf")
    (conf / "cucumber.json").write_text("[{")
    with pytest.raises(ReportInputError, match=r"cucumber\.json"):
        build_report(conf, tmp_path / "reports" / "X", signer=signer, pdf="off", coverage=COVERAGE)
    assert not (tmp_path / "reports" / "X").exists()
    # a failure half-way (after files were copied) removes the partial directory too
    runs.write_conformance(conf)

    def broken(report: object) -> str:
        raise RuntimeError("renderer bug")

    monkeypatch.setattr("simulator.report.build.render_html", broken)
    with pytest.raises(RuntimeError, match="renderer bug"):
        build_report(conf, tmp_path / "reports" / "X", signer=signer, pdf="off", coverage=COVERAGE)
    assert list((tmp_path / "reports").iterdir()) == []


def test_no_pdf_engine_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium
    monkeypatch.delenv(render_pdf_mod.CHROMIUM_ENV, raising=False)
    html = tmp_path / "r.html"
    html.write_text("<html><body>x</body></html>")
    status = render_pdf_mod.render_pdf(html, tmp_path / "r.pdf")
    if status.engine == "weasyprint":  # pragma: no cover - the optional extra is installed here
        pytest.skip("WeasyPrint is installed")
    assert not status.produced and "lienthong[pdf]" in status.reason and "chromium" in status.reason
    assert not (tmp_path / "r.pdf").exists()


def test_chromium_engine_is_driven_headless(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "fake-chromium"
    log = tmp_path / "args.txt"
    fake.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" > {log}\n'
        'for a in "$@"; do case "$a" in\n'
        '  --print-to-pdf=*) printf "%%PDF-1.4 fake" > "${a#--print-to-pdf=}";;\n'
        "esac; done\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv(render_pdf_mod.CHROMIUM_ENV, str(fake))
    html = tmp_path / "r.html"
    html.write_text("<html><body>x</body></html>")
    status = render_pdf_mod.render_pdf(html, tmp_path / "r.pdf", engine="chromium")
    assert status.produced and status.engine == "chromium"
    args = log.read_text().split("\n")
    assert "--headless" in args and html.resolve().as_uri() in args
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF-")
    fake.write_text("#!/bin/sh\necho 'cannot open display' >&2\nexit 3\n")
    status = render_pdf_mod.render_pdf(html, tmp_path / "r2.pdf", engine="chromium")
    assert not status.produced and "exit 3: cannot open display" in status.reason


def test_pdf_joins_the_signed_files_when_produced(
    tmp_path: Path, signer: ReportSigner, ca: TestCA, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "chromium"
    fake.write_text(
        '#!/bin/sh\nfor a in "$@"; do case "$a" in\n'
        '  --print-to-pdf=*) printf "%%PDF-1.7" > "${a#--print-to-pdf=}";;\n'
        "esac; done\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv(render_pdf_mod.CHROMIUM_ENV, str(fake))
    conf = runs.write_conformance(tmp_path / "conf")
    result = build_report(conf, tmp_path / "out", signer=signer, pdf="chromium", coverage=COVERAGE)
    assert result.report.pdf.produced and "report.pdf" in result.report.files
    assert "report.pdf" in result.manifest["files"]
    assert verify(result.directory, trust=ca.trust_store()).ok
    assert os.access(result.directory / "report.pdf", os.R_OK)


def test_cover_of_an_external_sut(tmp_path: Path, signer: ReportSigner) -> None:
    from simulator.report.collect import reference_sut, sut_from_config
    from simulator.sut.config import parse_sut_config

    config = parse_sut_config(
        {
            "name": "QLVB Acme 3.2",
            "hub": {"system_id": "acme.qlvb.01", "secret": "s", "agencies": ["000.00.12.H29"]},
            "driver": {"mode": "http", "url": "http://127.0.0.1:8090"},
        }
    )
    sut = sut_from_config(config)
    conf = runs.write_conformance(tmp_path / "conf")
    result = build_report(conf, tmp_path / "r", signer=signer, sut=sut, pdf="off", coverage=COVERAGE)
    cover = lxml_html.fromstring((result.directory / "report.html").read_text()).get_element_by_id("cover")
    text = cover.text_content()
    assert "000.00.12.H29" in text and "acme.qlvb.01" in text and "http" in text
    assert reference_sut(["never-accepts"]).name == "reference QLVB with defects never-accepts"
