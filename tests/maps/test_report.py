"""The pilot report on the demo pilot: report.html and report.pdf against tables.xlsx,
summary.json and the demo generator's ground truth; the PDF printed by headless Chromium and read
back with poppler (pdftotext, pdftoppm, pdffonts); XSS probes shown as text; no engine → skipped."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import warnings
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from openpyxl import load_workbook
from PIL import Image, ImageDraw

import fiveplans as fp
from fiveplans.demo import write_demo_inputs
from fiveplans.errors import StageSkipped
from fiveplans.maps.report import BROWSER_ENV, find_browser, write_report
from fiveplans.maps.tables import planner_tables, write_tables_xlsx
from fiveplans.pipeline import analyse, summary

POPPLER = all(shutil.which(t) for t in ("pdftotext", "pdftoppm", "pdfinfo", "pdffonts"))
needs_pdf = pytest.mark.skipif(
    find_browser() is None or not POPPLER,
    reason="needs headless Chromium and poppler-utils (scripts/install-system-deps.sh)",
)
HEADINGS = [
    "概况",
    "四象限对比",
    "规划冲突",
    "冲突台账",
    "三区划定",
    "耕地占补平衡",
    "低效工业用地",
    "村庄",
    "物流半径",
    "附录",
]
CJK = re.compile(r"^[\u4e00-\u9fff]+$")
PROBE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    """The demo pilot analysed; summary.json, tables.xlsx, report.html and report.pdf written."""
    root = tmp_path_factory.mktemp("report")
    yml = write_demo_inputs(root / "inputs")
    out = root / "out"
    out.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the demo's expected CRS and balance warnings
        pilot = fp.load_pilot(yml)
        analysis = analyse(pilot)
        summ = summary(pilot, analysis)
    (out / "summary.json").write_text(json.dumps(summ, ensure_ascii=False), encoding="utf-8")
    summ = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    tables = planner_tables(pilot, analysis, summ)
    write_tables_xlsx(tables, out / "tables.xlsx", ledger=analysis.ledger)
    html, pdf = write_report(
        pilot, analysis, summ, out, tables=tables, pdf=find_browser() is not None
    )
    truth = json.loads((yml.parent / "ground_truth.json").read_text(encoding="utf-8"))
    return {
        "pilot": pilot,
        "analysis": analysis,
        "summary": summ,
        "tables": tables,
        "out": out,
        "html": html,
        "pdf": pdf,
        "truth": truth,
    }


class _Tables(HTMLParser):
    """Every ``<figure id="tN">`` table of the report: its sheet name and rows of cell text."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict] = {}
        self._current: dict | None = None
        self._part = ""
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "figure" and (a.get("id") or "").startswith("t"):
            self._current = {
                "sheet": a["data-sheet"],
                "key": a["data-table"],
                "thead": [],
                "tbody": [],
                "tfoot": [],
            }
            self.tables[a["data-table"]] = self._current
        elif self._current is not None and tag in ("thead", "tbody", "tfoot"):
            self._part = tag
        elif self._current is not None and tag == "tr":
            self._row = []
        elif self._row is not None and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._current[self._part].append(self._row)
            self._row = None
        elif tag == "figure":
            self._current = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _html_tables(path: Path) -> dict[str, dict]:
    parser = _Tables()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.tables


def _as_shown(value, number_format: str) -> str:
    """An xlsx cell as the report prints it, from the cell's own number format."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    v = float(value)
    return {
        "#,##0.00": f"{v:,.2f}",
        "#,##0": f"{round(v):,d}",
        "0.0%": f"{v * 100:.1f}%",
        "0.0": f"{v:.1f}",
        "#,##0.0": f"{v:,.1f}",
        "0.00": f"{v:.2f}",
        "0.000": f"{v:.3f}",
    }.get(number_format, str(value))


def _rows(table: dict, part: str = "tbody") -> list[dict]:
    """A parsed report table's rows keyed by its Chinese header."""
    return [dict(zip(table["thead"][0], r, strict=False)) for r in table[part]]


def _num(text: str) -> float:
    return float(text.replace(",", "").rstrip("%"))


def test_every_report_table_equals_its_xlsx_sheet(run) -> None:
    html = _html_tables(run["html"])
    wb = load_workbook(run["out"] / "tables.xlsx")
    assert len(html) == sum(t.in_report for t in run["tables"])
    for key, t in html.items():
        ws = wb[t["sheet"]]
        rows = list(ws.iter_rows(min_row=5))
        assert t["thead"][0] == [c.value for c in ws[3]][: len(t["thead"][0])], key
        assert t["thead"][1] == [c.value for c in ws[4]][: len(t["thead"][1])], key
        if t["tbody"] == [["（无 none）"]]:
            assert rows[0][0].value == "（无 none）"
            continue
        for hrow, xrow in zip(t["tbody"], rows, strict=False):
            shown = [_as_shown(c.value, c.number_format) for c in xrow][: len(hrow)]
            assert hrow == shown, f"{key}: {hrow} != {shown}"
        if t["tfoot"]:
            last = [_as_shown(c.value, c.number_format) for c in rows[-1]]
            assert t["tfoot"][0] == last[: len(t["tfoot"][0])], key


def test_report_figures_equal_summary_json(run) -> None:
    s = run["summary"]
    html = _html_tables(run["html"])
    text = run["html"].read_text(encoding="utf-8")
    assert f"{s['boundary_area_m2']:,.2f} m²" in text
    conf = {r["类型代码"]: r for r in _rows(html["conflict_types"])}
    assert set(conf) == set(s["conflicts"])
    for key, v in s["conflicts"].items():
        assert int(_num(conf[key]["冲突图斑数 (个)"])) == v["count"]
        assert _num(conf[key]["面积 (m²)"]) == pytest.approx(v["area_m2"], abs=0.006)
    zones = {r["分区代码"]: r for r in _rows(html["zones"])}
    for key, v in s["zones"].items():
        assert _num(zones[key]["面积 (m²)"]) == pytest.approx(v["area_m2"], abs=0.006)
    total = _rows(html["zones"], "tfoot")[0]
    assert _num(total["面积 (m²)"]) == pytest.approx(s["boundary_area_m2"], abs=0.05)
    bal = _rows(html["balance"], "tfoot")[0]
    fb = s["farmland_balance"]
    assert _num(bal["调出 (m²)"]) == pytest.approx(fb["out_m2"], abs=0.006)
    assert _num(bal["调入 (m²)"]) == pytest.approx(fb["in_m2"], abs=0.006)
    assert f"{fb['shortfall_m2']:,.2f} m²" in text
    cov = _rows(html["coverage"], "tfoot")[0]
    assert int(_num(cov["配套企业 (家)"])) == s["catchments"]["suppliers"]
    assert int(_num(cov["半径内 (家)"])) == s["catchments"]["assigned"]
    shown = {r["内容"] for r in _rows(html["warnings"])}
    for stage, info in (s.get("skipped") or {}).items():
        assert info["reason"] in shown, stage
    for w in s["warnings"]:
        if not any(w.startswith(f"{stage}: ") for stage in s.get("skipped") or {}):
            assert w in shown


def test_report_figures_equal_the_demo_ground_truth(run) -> None:
    """The generator's planted figures (its own oracle): conflict areas to 1e-4 (polygon noise
    of the delivered layers), zones to 0.5 % (the truth's zones are drawn from the planted
    parcels, the tool's from the delivered, shifted and re-projected ones)."""
    truth = run["truth"]
    html = _html_tables(run["html"])
    boundary = _rows(html["overview"])[2]["面积 (m²)"]
    assert _num(boundary) == pytest.approx(truth["boundary_area_m2"])
    conf = {r["类型代码"]: _num(r["面积 (m²)"]) for r in _rows(html["conflict_types"])}
    for key, v in truth["conflicts"].items():
        assert conf[key] == pytest.approx(v["area_m2"], rel=1e-4), key
    zones = {r["分区代码"]: _num(r["面积 (m²)"]) for r in _rows(html["zones"])}
    for key, v in truth["zones"].items():
        assert zones[key] == pytest.approx(v["area_m2"], rel=5e-3), key
    out = _num(_rows(html["balance"], "tfoot")[0]["调出 (m²)"])
    assert out == pytest.approx(truth["farmland_balance"]["out_m2"], rel=1e-4)


@needs_pdf
def test_pdf_text_shows_headings_and_summary_figures(run) -> None:
    pdf = run["pdf"]
    assert pdf is not None and pdf.read_bytes()[:5] == b"%PDF-"
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    for h in HEADINGS:
        assert h in text, h
    assert run["summary"]["name"] in text
    s = run["summary"]
    figures = [
        s["boundary_area_m2"],
        *(v["area_m2"] for v in s["conflicts"].values()),
        *(v["area_m2"] for v in s["zones"].values()),
        s["farmland_balance"]["out_m2"],
        s["farmland_balance"]["in_m2"],
    ]
    for v in figures:
        assert f"{v:,.2f}" in text, v
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    pages = int(re.search(r"Pages:\s+(\d+)", info.stdout).group(1))
    assert 10 <= pages <= 80
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True)
    rows = fonts.stdout.splitlines()[2:]
    assert rows and all(r.split()[-5] == "yes" for r in rows)  # every font embedded


def _inked_cells(
    png: Path, words: list[tuple[str, float, float, float, float]], scale: float
) -> list[float]:
    """For each CJK character of ``words`` (text, xmin, ymin, xmax, ymax in PDF points), the
    share of its ink inside the middle half of its cell. A tofu box is an outline: ~0."""
    img = np.asarray(Image.open(png).convert("L")) < 128
    out = []
    for text, x0, y0, x1, y1 in words:
        w = (x1 - x0) / len(text)
        for i in range(len(text)):
            a, b = int((x0 + i * w) * scale), int((x0 + (i + 1) * w) * scale)
            c, d = int(y0 * scale), int(y1 * scale)
            cell = img[c:d, a:b]
            if cell.sum() == 0:
                out.append(0.0)
                continue
            h, v = cell.shape
            inner = cell[h // 4 : 3 * h // 4, v // 4 : 3 * v // 4]
            out.append(inner.sum() / cell.sum())
    return out


def _cjk_words(pdf: Path, page: int) -> list[tuple[str, float, float, float, float]]:
    xml = subprocess.run(
        ["pdftotext", "-bbox", "-f", str(page), "-l", str(page), str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    words = []
    for m in re.finditer(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" '
        r'yMax="([\d.]+)">([^<]+)</word>',
        xml,
    ):
        if CJK.match(m.group(5)) and len(m.group(5)) >= 2:
            words.append((m.group(5), *map(float, m.group(1, 2, 3, 4))))
    return words


def test_tofu_detector_sees_outlines(tmp_path: Path) -> None:
    """The detector used below: hollow boxes score 0, a drawn glyph scores above it."""
    img = Image.new("L", (200, 50), 255)
    draw = ImageDraw.Draw(img)
    draw.rectangle([2, 2, 47, 47], outline=0, width=2)  # tofu
    draw.rectangle([52, 2, 97, 47], outline=0, width=2)
    draw.line([52, 25, 97, 25], fill=0, width=3)  # a box with a stroke through it (like 日)
    draw.line([75, 2, 75, 47], fill=0, width=3)
    img.save(tmp_path / "t.png")
    score = _inked_cells(tmp_path / "t.png", [("口口", 0, 0, 100, 50)], 1.0)
    assert score[0] == 0.0 and score[1] > 0.2


@needs_pdf
def test_pdf_pages_show_no_tofu(run, tmp_path: Path) -> None:
    pdf = run["pdf"]
    for page in (1, 2):
        subprocess.run(
            [
                "pdftoppm",
                "-r",
                "144",
                "-gray",
                "-png",
                "-f",
                str(page),
                "-l",
                str(page),
                "-singlefile",
                str(pdf),
                str(tmp_path / f"p{page}"),
            ],
            check=True,
        )
        words = _cjk_words(pdf, page)
        assert len(words) >= 5
        scores = _inked_cells(tmp_path / f"p{page}.png", words, 144 / 72)
        drawn = sum(s > 0.15 for s in scores) / len(scores)
        assert drawn > 0.9, f"page {page}: {1 - drawn:.0%} of Chinese characters look like boxes"


def test_xss_probe_appears_as_text(run, tmp_path: Path) -> None:
    analysis = run["analysis"]
    villages = analysis.villages.copy()
    villages.loc[villages.index[0], "district"] = PROBE
    probed = dataclasses.replace(analysis, villages=villages)
    summ = {**run["summary"], "name": PROBE + "<script>alert(2)</script>"}
    tables = planner_tables(run["pilot"], probed, summ)
    html, pdf = write_report(
        run["pilot"],
        probed,
        summ,
        tmp_path,
        tables=tables,
        pdf=find_browser() is not None and POPPLER,
    )
    text = html.read_text(encoding="utf-8")
    assert "<img src=x" not in text and "<script>alert" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text
    assert text.count("&lt;img src=x onerror=alert(1)&gt;") >= 3  # title, heading, village row
    if pdf is not None:
        shown = subprocess.run(
            ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert PROBE in shown


def test_no_pdf_engine_is_a_skipped_stage(run, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(BROWSER_ENV, str(tmp_path / "no-such-browser"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium on PATH either
    with pytest.warns(StageSkipped, match="report.pdf") as caught:
        html, pdf = write_report(
            run["pilot"],
            run["analysis"],
            run["summary"],
            tmp_path,
            tables=run["tables"],
            figures=[],
        )
    assert caught[0].message.stage == "report_pdf"
    assert pdf is None and html.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]  # no half-written PDF


def test_outputs_are_complete_files(run) -> None:
    names = sorted(p.name for p in run["out"].iterdir())
    expected = ["report.html", "summary.json", "tables.xlsx"]
    if run["pdf"] is not None:
        expected.append("report.pdf")
    assert names == sorted(expected)  # no temporary files left behind


def test_appendix_shows_the_provenance(run, tmp_path: Path) -> None:
    """Every input's path and SHA-256 and the versions of summary.json ``provenance``."""
    summ = dict(run["summary"])
    summ.setdefault(  # as CONTRACT §5 describes it, for a summary written before provenance
        "provenance",
        {
            "fiveplans": fp.__version__,
            "python": "3.11",
            "libraries": {"geopandas": "1.0"},
            "config_sha256": "ab" * 32,
            "started": "2026-12-06T02:00:00+00:00",
            "seconds": 1.5,
            "inputs": {"land_use": {"path": "inputs/tugui/TDYTQ.shp", "sha256": "cd" * 32}},
        },
    )
    html, _ = write_report(run["pilot"], run["analysis"], summ, tmp_path, figures=[], pdf=False)
    appendix = _html_tables(html)["provenance"]["tbody"]
    text = "\n".join(" ".join(r) for r in appendix)
    prov = summ["provenance"]
    assert prov["config_sha256"] in text and str(prov["fiveplans"]) in text
    for info in prov["inputs"].values():
        assert info["path"] in text and info["sha256"] in text


def test_a_reduced_pilot_says_what_was_not_computed(tiny_pilot: Path, tmp_path: Path) -> None:
    """Only the required inputs: the report still renders, each missing stage says why."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pilot = fp.load_pilot(tiny_pilot)
        analysis = analyse(pilot)
        summ = summary(pilot, analysis)
    html, pdf = write_report(pilot, analysis, summ, tmp_path, pdf=False)
    assert pdf is None
    text = html.read_text(encoding="utf-8")
    for key in ("zones", "balance", "efficiency", "villages", "logistics"):
        section = text.split(f'<section id="{key}">')[1].split("</section>")[0]
        assert "未计算 not computed" in section, key
    tables = _html_tables(html)
    assert {"conflict_types", "largest_conflicts", "ledger_status", "warnings"} <= set(tables)
    overview = planner_tables(pilot, None, summary(pilot, None))
    assert [t.key for t in overview][:2] == ["overview", "layers"]


def test_a_run_without_a_browser_lists_the_skipped_pdf_everywhere(
    tiny_pilot: Path, tmp_path: Path, monkeypatch
) -> None:
    """No headless browser: the run finishes without report.pdf, and the skip is in
    summary.json and in the 警告与跳过 tables of the report and of tables.xlsx alike."""
    monkeypatch.setenv(BROWSER_ENV, str(tmp_path / "no-such-browser"))
    monkeypatch.setenv("PATH", str(Path(shutil.which("python") or "/usr/bin/python").parent))
    assert find_browser() is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = fp.run(tiny_pilot, out=tmp_path / "out")
    assert not (out / "report.pdf").exists() and (out / "report.html").is_file()
    summ = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert "report_pdf" in summ["skipped"]
    assert sum("report.pdf" in w for w in summ["warnings"]) == 1  # recorded once
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "report_pdf" in html and "未找到无头浏览器" in html
    wb = load_workbook(out / "tables.xlsx", read_only=True)
    sheet = next(ws for ws in wb.worksheets if "警告" in ws.title)
    cells = [str(c) for row in sheet.iter_rows(values_only=True) for c in row if c is not None]
    wb.close()
    assert any("report_pdf" in c for c in cells)
