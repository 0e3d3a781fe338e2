"""``report.html``: the certification report as one self-contained, printable HTML page.

Inline CSS (with a print stylesheet: every section starts a page, nothing is cut by scroll boxes) and
inline SVG charts; no script, no external fetch, no web font — the page opens offline and prints as
is. Sections: cover (SUT, harness and catalogue versions, dates, session, signing certificate),
summary (conclusion, counts, FAIL / NOT TESTED / NOT APPLICABLE rows), one row per requirement
(Vietnamese normative text, English gloss, verdict, the scenarios behind it with links to their
evidence), the scenario list, the load results (key figures, SLO table, throughput and latency over
time), the hub evidence, and the files of the report. Every text that comes from a run is escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from simulator.report.collect import make_anchor
from simulator.report.model import (
    Conclusion,
    EvidenceGroup,
    Report,
    RequirementRow,
    ScenarioResult,
    SloResult,
    Verdict,
)
from simulator.report.svg import Series, line_chart

__all__ = ["render_html", "requirement_anchor", "scenario_anchor"]

_OUTCOME_LABEL = {
    "passed": "PASS",
    "failed": "FAIL",
    "not-applicable": "N/A",
    "skipped": "SKIPPED",
    "error": "HARNESS ERROR",
}
_VERDICT_CLASS = {
    Verdict.PASS: "v-pass",
    Verdict.FAIL: "v-fail",
    Verdict.NOT_APPLICABLE: "v-na",
    Verdict.NOT_TESTED: "v-nt",
}
_OUTCOME_CLASS = {
    "passed": "v-pass",
    "failed": "v-fail",
    "not-applicable": "v-na",
    "skipped": "v-fail",
    "error": "v-err",
}
_CONCLUSION_CLASS = {
    Conclusion.CONFORMS: "c-ok",
    Conclusion.DOES_NOT_CONFORM: "c-fail",
    Conclusion.INCONCLUSIVE: "c-err",
    Conclusion.PARTIAL: "c-partial",
}
_CONCLUSION_VI = {
    Conclusion.CONFORMS: "ĐẠT — hệ thống đáp ứng các yêu cầu đã kiểm tra",
    Conclusion.DOES_NOT_CONFORM: "KHÔNG ĐẠT — có yêu cầu không được đáp ứng",
    Conclusion.INCONCLUSIVE: "CHƯA KẾT LUẬN — bộ kiểm thử gặp sự cố",
    Conclusion.PARTIAL: "MỘT PHẦN — chỉ chạy một phần bộ kịch bản; chưa đủ căn cứ để kết luận đạt",
}

_CSS = """
:root { --fg:#1b1f23; --muted:#5a6470; --line:#d5dbe1; --pass:#1e7b34; --fail:#b3261e; --na:#8a6d00;
  --nt:#5a6470; --err:#7b2d8e; --bg-soft:#f5f7f9; }
* { box-sizing: border-box; }
body { font: 14px/1.45 "DejaVu Sans", "Noto Sans", Arial, sans-serif; color: var(--fg); margin: 0 auto;
  max-width: 1180px; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 19px; border-bottom: 2px solid var(--fg);
  padding-bottom: 4px; margin-top: 36px; } h3 { font-size: 15px; margin: 20px 0 6px; }
.sub { color: var(--muted); margin: 0 0 16px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 16px; }
th, td { border: 1px solid var(--line); padding: 5px 7px; vertical-align: top; text-align: left; }
th { background: var(--bg-soft); font-weight: 600; }
table.kv th { width: 28%; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; padding: 1px 7px; border-radius: 3px; font-weight: 700; font-size: 12px;
  color: #fff; white-space: nowrap; }
.v-pass { background: var(--pass); } .v-fail { background: var(--fail); } .v-na { background: var(--na); }
.v-nt { background: var(--nt); } .v-err { background: var(--err); }
.conclusion { font-size: 22px; font-weight: 800; padding: 14px 18px; border-radius: 6px; color: #fff;
  margin: 12px 0; }
.conclusion small { display: block; font-size: 14px; font-weight: 500; }
.c-ok { background: var(--pass); } .c-fail { background: var(--fail); } .c-err { background: var(--err); }
.c-partial { background: var(--na); }
.counts td { text-align: center; font-size: 18px; font-weight: 700; }
.vi { font-style: italic; } .en { color: var(--muted); font-size: 13px; }
.meta { color: var(--muted); font-size: 12px; }
pre.msg { white-space: pre-wrap; word-break: break-word; background: var(--bg-soft); border: 1px solid
  var(--line); padding: 6px 8px; font: 12px/1.35 "DejaVu Sans Mono", monospace; max-height: 16em;
  overflow: auto; margin: 4px 0; }
ul.refs { margin: 4px 0 0; padding-left: 18px; } ul.refs li { margin: 2px 0; }
tr.referenced td { background: #fff4d6; }
.chart { max-width: 100%; height: auto; display: block; margin: 8px 0 18px; }
.chart .grid { stroke: #e3e7eb; } .chart .axis, .chart .frame { stroke: #7a8591; }
.chart text { font: 11px "DejaVu Sans", Arial, sans-serif; fill: #1b1f23; }
.chart .chart-title { font-weight: 700; font-size: 13px; }
.chart .chart-empty { fill: var(--muted); }
.attention { border-left: 4px solid var(--na); background: #fffbea; padding: 8px 12px; margin: 10px 0; }
.problem { border-left: 4px solid var(--err); background: #f9f0fb; padding: 8px 12px; margin: 10px 0; }
a { color: #1f5fa8; }
code { font: 12px "DejaVu Sans Mono", monospace; word-break: break-all; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  h2 { break-before: page; } #cover h2, #summary h2 { break-before: auto; }
  tr, pre.msg, .chart { break-inside: avoid; }
  pre.msg { max-height: none; overflow: visible; }
  a { color: inherit; text-decoration: none; }
  .badge, .conclusion, .v-pass, .v-fail, .v-na, .v-nt, .v-err, tr.referenced td {
    -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  @page { size: A4; margin: 14mm 12mm; }
}
"""


def requirement_anchor(req_id: str) -> str:
    return "req-" + req_id


def scenario_anchor(key: str) -> str:
    return make_anchor("sc", key)


def _e(text: object) -> str:
    return escape("" if text is None else str(text))


def _num(value: float | int | None, unit: str = "", digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}{unit}"
    return f"{value:.{digits}g}{unit}"


def _badge(label: str, css: str) -> str:
    return f'<span class="badge {css}">{_e(label)}</span>'


def _kv(rows: Iterable[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="kv">{body}</table>'


def _cover(r: Report) -> str:
    sut = r.sut
    sut_rows = [
        ("System under test", f"<strong>{_e(sut.name)}</strong>"),
        ("Kind", _e(sut.kind)),
    ]
    if sut.defects:
        sut_rows.append(("Reference variants (defects)", _e(", ".join(sut.defects))))
    if sut.agencies:
        sut_rows.append(("Agency codes (mã định danh)", _e(", ".join(sut.agencies))))
    if sut.system_id:
        sut_rows.append(("System ID on the hub", f"<code>{_e(sut.system_id)}</code>"))
    if sut.driver:
        sut_rows.append(("Driver", _e(sut.driver)))
    if sut.config:
        sut_rows.append(("SUT configuration", f"<code>{_e(sut.config)}</code>"))
    c = r.conformance
    load = r.load
    run_rows = [
        ("Session ID", f"<code>{_e(r.session_id)}</code>"),
        ("Report created", _e(r.created)),
        ("Conformance run", f"{_e(c.started or '?')} → {_e(c.finished or '?')}"),
        (
            "Load run",
            f"{_e(load.started or '?')} → {_e(load.ended or '?')} (profile {_e(load.profile)})"
            if load
            else "none",
        ),
        ("Harness version (lienthong)", _e(r.harness_version)),
        ("Requirements catalogue version", _e(r.catalogue_version)),
        ("Conformance suite version", _e(r.suite_version)),
        (
            "Signed by",
            f"{_e(r.signer.subject)}<br><span class='meta'>issuer {_e(r.signer.issuer)}; "
            f"serial {_e(r.signer.serial)}; valid {_e(r.signer.not_before)} → "
            f"{_e(r.signer.not_after)}</span>",
        ),
        ("Signing certificate SHA-256", f"<code>{_e(r.signer.sha256_fingerprint)}</code>"),
    ]
    return (
        '<section id="cover"><h1>Báo cáo kiểm tra kết nối liên thông văn bản điện tử</h1>'
        '<p class="sub">Conformance certification report — Trục liên thông văn bản quốc gia '
        "(national e-document exchange hub), produced by the lienthong harness</p>"
        f"<h2>System and session</h2>{_kv(sut_rows)}{_kv(run_rows)}</section>"
    )


def _req_links(ids: Sequence[str]) -> str:
    return ", ".join(f'<a href="#{_e(requirement_anchor(i))}">{_e(i)}</a>' for i in ids) or "none"


def _summary(r: Report) -> str:
    s = r.summary
    counts = "".join(
        f"<td>{_badge(v.value, _VERDICT_CLASS[v])}<br>{s.counts.get(v.value, 0)}</td>" for v in Verdict
    )
    parts = [
        '<section id="summary"><h2>Summary / Kết luận</h2>',
        f'<div class="conclusion {_CONCLUSION_CLASS[s.conclusion]}">{_e(s.conclusion.value)}'
        f"<small>{_e(_CONCLUSION_VI[s.conclusion])}</small></div>",
        f'<table class="counts"><tr>{counts}</tr></table>',
        f"<p>{len(r.requirements)} requirements of catalogue {_e(r.catalogue_version)}; "
        f"{r.conformance.scenario_count} scenario example(s) run; "
        + ("a load profile was run." if r.load else "no load profile was run.")
        + "</p>",
    ]
    by_id = {row.id: row for row in r.requirements}
    if s.harness_problems:
        items = "".join(f"<li>{_e(p)}</li>" for p in s.harness_problems)
        parts.append(f'<div class="problem"><strong>Harness problems</strong><ul>{items}</ul></div>')
    if s.not_run:
        parts.append(
            '<div class="attention"><strong>Partial session</strong>: only the scenarios this run selected '
            f"(--tags) ran; {len(s.not_run)} requirement(s) the suite covers were left out: "
            + ", ".join(f'<a href="#{_e(requirement_anchor(i))}">{_e(i)}</a>' for i in s.not_run)
            + ". Run the whole suite to certify.</div>"
        )
    if s.failed:
        items = "".join(
            f'<li><a href="#{_e(requirement_anchor(i))}">{_e(i)}</a> — {_e(by_id[i].reason)}</li>'
            for i in s.failed
        )
        parts.append(f"<h3>Requirements that FAIL</h3><ul>{items}</ul>")
    for title, ids in (("NOT TESTED", s.not_tested), ("NOT APPLICABLE", s.not_applicable)):
        if ids:
            items = "".join(
                f'<li><a href="#{_e(requirement_anchor(i))}">{_e(i)}</a> — {_e(by_id[i].reason)}</li>'
                for i in ids
            )
            parts.append(
                f'<div class="attention"><strong>{len(ids)} requirement(s) {title}</strong>'
                f"<ul>{items}</ul></div>"
            )
    if r.warnings:
        items = "".join(f"<li>{_e(w)}</li>" for w in r.warnings)
        parts.append(
            f"<details><summary>Notes on the inputs ({len(r.warnings)})</summary><ul>{items}</ul></details>"
        )
    parts.append("</section>")
    return "".join(parts)


def _slo_cell(slo: SloResult) -> str:
    value = "—" if slo.value is None else f"{slo.value:g}"
    threshold = "—" if slo.threshold is None else f"{slo.threshold:g}"
    return (
        f"{_badge('met' if slo.passed else 'missed', 'v-pass' if slo.passed else 'v-fail')} "
        f"{_e(slo.name)}: {_e(value)} {_e(slo.comparison)} {_e(threshold)} {_e(slo.unit)}"
    )


def _requirement_row(row: RequirementRow) -> str:
    text = (
        f'<div class="vi" lang="vi">{_e(row.text_vi)}</div>' if row.text_vi else ""
    ) + f'<div class="en" lang="en">{_e(row.title)}</div>'
    text += f'<div class="meta">{_e(row.source)} · {_e(row.who)} · observed: {_e(row.observe)}</div>'
    refs = []
    for ref in row.scenarios:
        link = f'<a href="#{_e(scenario_anchor(ref.key))}">{_e(ref.tc or ref.key)}</a>'
        ev = f' · <a href="#{_e(ref.evidence_anchor)}">evidence</a>' if ref.evidence_anchor else ""
        msg = f'<pre class="msg">{_e(ref.message)}</pre>' if ref.message and ref.outcome != "passed" else ""
        refs.append(
            f"<li>{_badge(_OUTCOME_LABEL[ref.outcome], _OUTCOME_CLASS[ref.outcome])} {link} "
            f"{_e(ref.name)}{ev}{msg}</li>"
        )
    refs += [f"<li>{_slo_cell(slo)}</li>" for slo in row.slos]
    basis = f"<div>{_e(row.reason)}</div>" + (f'<ul class="refs">{"".join(refs)}</ul>' if refs else "")
    return (
        f'<tr id="{_e(requirement_anchor(row.id))}" class="req-row"><td><strong>{_e(row.id)}</strong></td>'
        f"<td>{text}</td><td>{_badge(row.verdict.value, _VERDICT_CLASS[row.verdict])}</td>"
        f"<td>{basis}</td></tr>"
    )


def _requirements(r: Report) -> str:
    rows = "".join(_requirement_row(row) for row in r.requirements)
    return (
        '<section id="requirements"><h2>Requirements / Yêu cầu</h2>'
        "<p>One row per requirement of the catalogue. PASS: at least one scenario passed and none failed; "
        "FAIL: a scenario failed or an SLO was missed; NOT APPLICABLE: every scenario was not applicable to "
        "this system; NOT TESTED: nothing in this session checked it (the reason says why).</p>"
        '<table><thead><tr><th style="width:9%">ID</th><th style="width:43%">Requirement (normative text · '
        'English gloss)</th><th style="width:9%">Verdict</th><th>Basis</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></section>"
    )


def _scenario_row(s: ScenarioResult) -> str:
    ev = f'<a href="#{_e(s.evidence_anchor)}">evidence</a>' if s.evidence_anchor else "—"
    msg = f'<pre class="msg">{_e(s.message)}</pre>' if s.message else ""
    return (
        f'<tr id="{_e(scenario_anchor(s.key))}"><td>{_e(s.tc)}</td><td>{_e(s.name)}'
        f'<div class="meta">{_e(s.feature)}{" · defect " + _e(s.defect) if s.defect else ""}</div>{msg}</td>'
        f"<td>{_badge(_OUTCOME_LABEL[s.outcome], _OUTCOME_CLASS[s.outcome])}</td>"
        f'<td class="num">{s.duration_s:.2f} s</td><td>{_req_links(s.requirements)}</td><td>{ev}</td></tr>'
    )


def _scenarios(r: Report) -> str:
    counts = ", ".join(f"{n} {o}" for o, n in r.conformance.counts.items() if n)
    rows = "".join(_scenario_row(s) for s in r.scenarios)
    return (
        '<section id="scenarios"><h2>Scenarios / Kịch bản kiểm thử</h2>'
        f"<p>{r.conformance.scenario_count} scenario example(s): {_e(counts or 'none')}. "
        f"Run against {_e(r.conformance.sut or r.sut.name)}"
        + (f"; exit code {r.conformance.exit_code}" if r.conformance.exit_code is not None else "")
        + ".</p>"
        '<table><thead><tr><th style="width:9%">TC</th><th>Scenario</th><th>Outcome</th>'
        '<th class="num">Time</th><th style="width:14%">Requirements</th><th>Evidence</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></section>"
    )


def _load(r: Report) -> str:
    load = r.load
    if load is None:
        return (
            '<section id="load"><h2>Load / Tải</h2><p>No load profile was run in this session: the '
            "operational service levels (OPS-*) are NOT TESTED.</p></section>"
        )
    figures = [
        ("Profile", _e(load.profile)),
        ("Period", f"{_e(load.started or '?')} → {_e(load.ended or '?')} ({_num(load.duration_s, ' s')})"),
        ("Documents sent (all agencies)", _num(load.documents_sent)),
        ("Documents sent to the SUT", _num(load.documents_to_sut)),
        ("Sustained documents per second", _num(load.sustained_docs_per_s)),
        ("Errors (error rate)", f"{_num(load.errors)} ({_num(load.error_rate)})"),
        ("Duplicates", _num(load.duplicates)),
        ("Documents lost (never acknowledged)", _num(load.lost)),
        ("CPU seconds", _e(", ".join(f"{k} {v:.1f} s" for k, v in load.cpu_s.items()) or "—")),
        ("All SLOs met", _badge("yes", "v-pass") if load.passed else _badge("no", "v-fail")),
    ]
    lat_rows = "".join(
        f"<tr><td>{_e(name)}</td><td class='num'>{st.count}</td><td class='num'>{_num(st.p50)}</td>"
        f"<td class='num'>{_num(st.p95)}</td><td class='num'>{_num(st.p99)}</td>"
        f"<td class='num'>{_num(st.max)}</td></tr>"
        for name, st in load.latency.items()
    )
    slo_rows = "".join(
        f"<tr><td><a href='#{_e(requirement_anchor(s.id))}'>{_e(s.id)}</a></td><td>{_e(s.name)}</td>"
        f"<td class='num'>{_e('—' if s.value is None else f'{s.value:g}')}</td><td>{_e(s.comparison)}</td>"
        f"<td class='num'>{_e('—' if s.threshold is None else f'{s.threshold:g}')}</td><td>{_e(s.unit)}</td>"
        f"<td>{_badge('met' if s.passed else 'missed', 'v-pass' if s.passed else 'v-fail')}</td>"
        f"<td>{_e(s.detail)}</td></tr>"
        for s in load.slos
    )
    h = load.history
    throughput = line_chart(
        [
            Series("requests/s", [(p.t_s, p.rps) for p in h]),
            Series("failures/s", [(p.t_s, p.fps) for p in h]),
        ],
        title="Throughput over time (Locust, all requests)",
        y_label="per second",
    )
    latency = line_chart(
        [
            Series("p50 response time", [(p.t_s, p.p50_ms) for p in h]),
            Series("p95 response time", [(p.t_s, p.p95_ms) for p in h]),
        ],
        title="Response time over time (Locust, as recorded in its stats history)",
        y_label="milliseconds",
    )
    users = line_chart(
        [Series("simulated users", [(p.t_s, float(p.users)) for p in h])],
        title="Load shape (simulated users)",
        y_label="users",
        height=180,
    )
    endpoints = "".join(
        f"<tr><td>{_e(e.type)}</td><td>{_e(e.name)}</td><td class='num'>{e.requests:,}</td>"
        f"<td class='num'>{e.failures:,}</td><td class='num'>{_num(e.median_ms)}</td>"
        f"<td class='num'>{_num(e.p95_ms)}</td><td class='num'>{_num(e.rps)}</td></tr>"
        for e in load.endpoints
    )
    files = ", ".join(f'<a href="{_e(f)}">{_e(f)}</a>' for f in load.files) or "none"
    return (
        '<section id="load"><h2>Load / Tải</h2>'
        f"{_kv(figures)}"
        "<h3>Service levels measured at the hub</h3>"
        "<table><thead><tr><th>Requirement</th><th>Objective</th><th class='num'>Value</th><th></th>"
        "<th class='num'>Threshold</th><th>Unit</th><th>Result</th><th>Detail</th></tr></thead>"
        f"<tbody>{slo_rows}</tbody></table>"
        "<h3>Time to status, seconds from hub acceptance (measured at the hub)</h3>"
        "<table><thead><tr><th>Measure</th><th class='num'>Count</th><th class='num'>p50</th>"
        "<th class='num'>p95</th><th class='num'>p99</th><th class='num'>max</th></tr></thead>"
        f"<tbody>{lat_rows}</tbody></table>"
        f"<h3>Over time</h3>{throughput}{latency}{users}"
        f"<p class='meta'>{load.history_rows} rows of locust_stats_history.csv"
        + (f", shown as {len(h)} points" if len(h) != load.history_rows else "")
        + ".</p>"
        + (
            "<h3>Requests by endpoint (Locust)</h3><table><thead><tr><th>Type</th><th>Name</th>"
            "<th class='num'>Requests</th><th class='num'>Failures</th><th class='num'>Median ms</th>"
            "<th class='num'>p95 ms</th><th class='num'>req/s</th></tr></thead>"
            f"<tbody>{endpoints}</tbody></table>"
            if endpoints
            else ""
        )
        + f"<p>Locust outputs: {files}</p></section>"
    )


def _evidence_group(g: EvidenceGroup) -> str:
    rows = []
    for row in g.rows:
        ids = "<br>".join(f"<code>{_e(d)}</code>" for d in row.doc_ids)
        who = ""
        if row.sender or row.recipients:
            who = f"{_e(row.sender or '?')} → {_e(', '.join(row.recipients) or '?')}"
        what = " · ".join(
            x
            for x in (
                _e(row.kind or ""),
                f"<code>{_e(row.document_id)}</code>" if row.document_id else "",
                who,
            )
            if x
        )
        findings = "".join(f"<div>{_e(f)}</div>" for f in row.findings)
        status = f"{row.http_status if row.http_status is not None else '?'} / {_e(row.error_code or '?')}"
        rows.append(
            f'<tr id="{_e(row.anchor)}"{" class=referenced" if row.referenced else ""}>'
            f"<td class='num'>{row.line}</td><td>{_e(row.at)}</td><td>{_e(row.system or '')}</td>"
            f"<td>{_e(row.operation)}</td><td>{status}</td><td>{ids}</td><td>{what}{findings}</td></tr>"
        )
    omitted = (
        f"<p class='meta'>{g.omitted} more row(s) of this scenario (mostly polls that returned no document) "
        "are in <a href='evidence/evidence.jsonl'>evidence/evidence.jsonl</a>.</p>"
        if g.omitted
        else ""
    )
    title = f"{g.tc} — {g.scenario}" if g.tc else g.scenario
    return (
        f'<div id="{_e(g.anchor)}" class="evidence-group"><h3>{_e(title)}</h3>'
        "<table><thead><tr><th class='num'>Line</th><th>Hub time</th><th>System</th><th>Operation</th>"
        "<th>HTTP / ErrorCode</th><th>Hub docIds</th><th>Package, findings</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{omitted}</div>"
    )


def _evidence(r: Report) -> str:
    if not r.evidence:
        return (
            '<section id="evidence"><h2>Evidence / Bằng chứng</h2>'
            "<p>No hub evidence was recorded.</p></section>"
        )
    return (
        '<section id="evidence"><h2>Evidence / Bằng chứng</h2>'
        "<p>What the simulated hub recorded for each scenario: the requests that carried documents or "
        "statuses, and every finding. Rows whose hub docId is named in the scenario's failure message are "
        "highlighted. The complete log is <a href='evidence/evidence.jsonl'>evidence/evidence.jsonl</a> "
        "(line numbers refer to it).</p>" + "".join(_evidence_group(g) for g in r.evidence) + "</section>"
    )


def _files(r: Report) -> str:
    items = "".join(f'<li><a href="{_e(f)}">{_e(f)}</a></li>' for f in r.files)
    return (
        '<section id="files"><h2>Files and signature / Tệp và chữ ký</h2>'
        "<p>Every file of this report directory is listed with its SHA-256 in <code>manifest.json</code>, "
        "signed (detached signature <code>manifest.sig</code>) with the certificate in "
        f"<code>signer.pem</code>: {_e(r.signer.subject)} ({_e(r.signer.algorithm)}). Check it with "
        f"<code>lienthong report verify &lt;this directory&gt;</code>.</p><ul>{items}</ul></section>"
    )


def render_html(report: Report) -> str:
    """The whole page."""
    title = f"lienthong report {report.session_id} — {report.sut.name} — {report.summary.conclusion.value}"
    return (
        '<!DOCTYPE html><html lang="vi"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="lienthong {_e(report.harness_version)}">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        + _cover(report)
        + _summary(report)
        + _requirements(report)
        + _scenarios(report)
        + _load(report)
        + _evidence(report)
        + _files(report)
        + "</body></html>\n"
    )
