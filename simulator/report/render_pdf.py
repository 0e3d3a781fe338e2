"""``report.pdf``: the HTML report printed to PDF, when a PDF engine is available (optional).

Engines, in the order ``auto`` tries them:

* ``weasyprint`` — the optional ``pdf`` extra (``pip install 'lienthong[pdf]'``), pure Python + Pango;
* ``chromium`` — a headless Chromium/Chrome on ``PATH`` (Debian's ``chromium`` package; or the binary
  named by ``$LIENTHONG_CHROMIUM``), run with ``--print-to-pdf`` in a throw-away profile, bounded by a
  timeout.

When none is available (or ``engine="off"``) no PDF is written and :class:`PdfStatus` says why; the
report is complete without it (report.html is the primary, printable rendering).
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Literal

from simulator.report.model import PdfStatus

__all__ = ["CHROMIUM_ENV", "ENGINES", "PdfEngine", "find_chromium", "render_pdf"]

PdfEngine = Literal["auto", "weasyprint", "chromium", "off"]
ENGINES: tuple[PdfEngine, ...] = ("auto", "weasyprint", "chromium", "off")
CHROMIUM_ENV = "LIENTHONG_CHROMIUM"
_CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
_NO_ENGINE = (
    "no PDF engine is installed: install the PDF extra (pip install 'lienthong[pdf]', which brings "
    "WeasyPrint) or a Chromium browser (Debian: apt-get install chromium); report.html prints as is"
)


def find_chromium() -> str | None:
    """The Chromium binary to use: ``$LIENTHONG_CHROMIUM``, else the first known name on ``PATH``."""
    env = os.environ.get(CHROMIUM_ENV)
    if env:
        return env if Path(env).is_file() or shutil.which(env) else None
    return next((p for name in _CHROMIUM_NAMES if (p := shutil.which(name))), None)


def _is_pdf(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(5) == b"%PDF-"
    except OSError:
        return False


def _weasyprint(html_path: Path, pdf_path: Path) -> PdfStatus:
    try:
        weasyprint = importlib.import_module("weasyprint")
    except ImportError:
        return PdfStatus(False, None, "WeasyPrint is not installed (pip install 'lienthong[pdf]')")
    except Exception as exc:  # WeasyPrint raises OSError when Pango is missing: report it, do not crash
        return PdfStatus(False, None, f"WeasyPrint cannot start ({type(exc).__name__}: {exc})")
    try:
        weasyprint.HTML(filename=str(html_path)).write_pdf(str(pdf_path))
    except Exception as exc:  # any rendering failure leaves the report valid without a PDF
        pdf_path.unlink(missing_ok=True)
        return PdfStatus(False, None, f"WeasyPrint failed to render the report ({type(exc).__name__}: {exc})")
    if not _is_pdf(pdf_path):
        pdf_path.unlink(missing_ok=True)
        return PdfStatus(False, None, "WeasyPrint wrote no PDF")
    return PdfStatus(
        True, "weasyprint", f"rendered with WeasyPrint {getattr(weasyprint, '__version__', '')}".strip()
    )


def _chromium(html_path: Path, pdf_path: Path, timeout_s: float) -> PdfStatus:
    binary = find_chromium()
    if binary is None:
        where = f"${CHROMIUM_ENV} or PATH" if os.environ.get(CHROMIUM_ENV) else "PATH"
        return PdfStatus(False, None, f"no Chromium browser found on {where}")
    with tempfile.TemporaryDirectory(prefix="lienthong-pdf-") as profile:
        cmd = [
            binary,
            "--headless",
            "--disable-gpu",
            "--disable-extensions",
            "--no-first-run",
            "--no-pdf-header-footer",
            f"--user-data-dir={profile}",
            f"--print-to-pdf={pdf_path}",
            html_path.resolve().as_uri(),
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        proc = subprocess.Popen(  # noqa: S603 - a browser binary we looked up, no shell
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        try:
            _, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            pdf_path.unlink(missing_ok=True)
            return PdfStatus(False, None, f"Chromium did not print the report within {timeout_s:g} s")
    if proc.returncode != 0 or not _is_pdf(pdf_path):
        pdf_path.unlink(missing_ok=True)
        tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] if err else []
        return PdfStatus(
            False,
            None,
            f"Chromium failed to print the report (exit {proc.returncode}{': ' + tail[0] if tail else ''})",
        )
    return PdfStatus(True, "chromium", f"printed with headless Chromium ({Path(binary).name})")


def render_pdf(
    html_path: Path, pdf_path: Path, *, engine: PdfEngine = "auto", timeout_s: float = 120.0
) -> PdfStatus:
    """Print ``html_path`` to ``pdf_path`` with the first engine that works; never raises for a missing
    or failing engine (the status says what happened)."""
    if engine == "off":
        return PdfStatus(False, None, "PDF output was turned off (--pdf off)")
    if engine not in ENGINES:
        raise ValueError(f"unknown PDF engine {engine!r}: use one of {', '.join(ENGINES)}")
    tried: list[str] = []
    if engine in ("auto", "weasyprint"):
        status = _weasyprint(html_path, pdf_path)
        if status.produced or engine == "weasyprint":
            return status
        tried.append(status.reason)
    status = _chromium(html_path, pdf_path, timeout_s)
    if status.produced or engine == "chromium":
        return status
    tried.append(status.reason)
    if all("not installed" in t or "no Chromium" in t for t in tried):
        return PdfStatus(False, None, _NO_ENGINE)
    return PdfStatus(False, None, "no PDF was produced: " + "; ".join(tried))
