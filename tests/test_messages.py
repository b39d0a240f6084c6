"""Messages a planner understands: each slip named on its own line, with the fix, 中文 first.

Every case starts from a valid pilot (the tiny pilot, written out by hand as a planner types
it) and makes one slip; the message must name the right line, show it, and give the fix.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from tinypilot import write_tiny_pilot

from fiveplans.cli import cli
from fiveplans.config import read_config
from fiveplans.errors import ConfigError

PILOT = """\
name: 小试点
id: tiny
crs: EPSG:4547
boundary: boundary.gpkg
plans:
  land_use: {path: tugui.gpkg, field: TDYTQLXDM, scheme: tdytq, id: BSM}
  cluster: {path: cluster.gpkg, field: YDDM, scheme: gb50137, id: DKBH}
thresholds:
  sliver_m2: 400
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_tiny_pilot(tmp_path)
    return tmp_path


def _error(folder: Path, text: str) -> str:
    path = folder / "typed.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        read_config(path)
    assert info.value.exit_code == 2
    return str(info.value)


def test_the_typed_pilot_is_valid(folder: Path) -> None:
    path = folder / "typed.yml"
    path.write_text(PILOT, encoding="utf-8")
    assert read_config(path).sources["cluster"].field == "YDDM"


@pytest.mark.parametrize(
    ("old", "new", "line", "needles", "fix"),
    [
        # full-width colon typed with a Chinese input method: PyYAML blames line 4
        (
            "crs: EPSG:4547",
            "crs： EPSG:4547",
            3,
            ["全角冒号", "full-width colon", "U+FF1A"],
            "`crs: EPSG:4547`",
        ),
        (
            "  cluster: {path",
            "  cluster： {path",
            7,
            ["全角冒号", "full-width colon"],
            "`cluster: {path: cluster.gpkg, field: YDDM, scheme: gb50137, id: DKBH}`",
        ),
        (
            "cluster.gpkg, field",
            "cluster.gpkg， field",
            7,
            ["全角逗号", "full-width comma"],
            "`cluster: {path: cluster.gpkg, field: YDDM, scheme: gb50137, id: DKBH}`",
        ),
        (
            "{path: tugui",
            "｛path: tugui",
            6,
            ["全角花括号", "full-width brace"],
            "`land_use: {path: tugui.gpkg",
        ),
        (
            "boundary: boundary.gpkg",
            "boundary: “boundary.gpkg”",
            4,
            ["中文引号", "Chinese quote"],
            '`boundary: "boundary.gpkg"`',
        ),
        ("  land_use:", "\tland_use:", 6, ["制表符 Tab", "tab"], "replace the tab with spaces"),
        ("  land_use:", "\u3000 land_use:", 6, ["全角空格", "full-width space"], "ordinary spaces"),
        ("crs: EPSG:4547", "crs:EPSG:4547", 3, ["冒号后缺少空格", "space"], "`crs: EPSG:4547`"),
        ("  cluster: {path", "   cluster: {path", 7, ["缩进不对齐", "indentation"], "by 2 spaces"),
        ("  cluster: {path", " cluster: {path", 7, ["缩进不对齐", "indentation"], "by 2 spaces"),
        ("id: DKBH}", "id: DKBH", 7, ["没有闭合", "not closed"], "close it with '}'"),
        (
            "name: 小试点",
            "name: 小试点: 一期",
            1,
            ["冒号+空格", "second key"],
            '`name: "小试点: 一期"`',
        ),
    ],
)
def test_yaml_slip_names_its_line_and_fix(
    folder: Path, old: str, new: str, line: int, needles: list[str], fix: str
) -> None:
    assert PILOT.count(old) == 1
    message = _error(folder, PILOT.replace(old, new))
    first = message.splitlines()[0]
    assert f"第 {line} 行 line {line}:" in first, message
    for needle in needles:
        assert needle in message, message
    # the offending line is shown under its number, and the fix follows
    typed = PILOT.replace(old, new).splitlines()[line - 1]
    assert f"    {line} | {typed.replace(chr(9), '→')}" in message, message
    fix_line = message.splitlines()[-1]
    assert fix_line.startswith("解决 Fix:") and fix in fix_line, message
    for jargon in ("simple key", "block end", "<block mapping start>", "ScannerError", "token"):
        assert jargon not in message, message
    assert re.search(r"[\u4e00-\u9fff]", first)  # Chinese first


def test_chinese_punctuation_inside_a_name_is_not_a_slip(folder: Path) -> None:
    path = folder / "typed.yml"
    path.write_text(PILOT.replace("name: 小试点", "name: 小试点（一期），“示范”"), encoding="utf-8")
    assert read_config(path).name == "小试点（一期），“示范”"


@pytest.mark.parametrize("written", ["GB50137", "GB 50137-2011", "Gb50137"])
def test_scheme_names_ignore_case(folder: Path, written: str) -> None:
    path = folder / "typed.yml"
    path.write_text(PILOT.replace("scheme: gb50137", f"scheme: {written}"), encoding="utf-8")
    assert read_config(path).sources["cluster"].scheme == "gb50137"


def test_gb_t_with_slash_and_year(folder: Path) -> None:
    from fiveplans.config import scheme_name

    assert scheme_name("GB/T 21010-2017") == "gbt21010"
    assert scheme_name(" TDYTQ ") == "tdytq"


def test_field_suggestion_prefers_the_code_field_and_exits_2(folder: Path) -> None:
    path = folder / "typed.yml"
    path.write_text(PILOT.replace("field: YDDM", "field: YDMM"), encoding="utf-8")
    result = CliRunner().invoke(cli, ["run", str(path), "--out", str(folder / "o")])
    assert result.exit_code == 2, result.output  # a field the pilot names: a config problem
    message = result.stderr
    assert "找不到字段 'YDMM'" in message and "field 'YDMM' not found" in message
    assert "set `field: YDDM`" in message
    assert "field: YDMC" not in message and "closest is 'YDMC'" not in message
    assert "gb50137 codes" in message


def test_field_suggestion_without_a_recognised_field_names_the_closest(folder: Path) -> None:
    path = folder / "typed.yml"
    path.write_text(PILOT.replace("id: BSM", "id: BSMM"), encoding="utf-8")
    result = CliRunner().invoke(cli, ["run", str(path), "--out", str(folder / "o")])
    assert result.exit_code == 2
    assert "The closest is 'BSM'" in result.stderr and "set `id:`" in result.stderr


def test_missing_shp_does_not_suggest_its_shx(folder: Path) -> None:
    import geopandas as gpd

    frame = gpd.read_file(folder / "tugui.gpkg")
    frame.to_file(folder / "TDYTQ.shp", encoding="utf-8")
    (folder / "TDYTQ.shp").unlink()
    (folder / "TDYTQ2.shp").write_bytes(b"")  # another Shapefile beside it
    text = PILOT.replace("path: tugui.gpkg", "path: TDYTQ.shp")
    message = _error(folder, text)
    assert "Did you mean 'TDYTQ.shx'" not in message
    assert "缺少 .shp 主文件" in message and "the .shp itself is missing" in message
    assert "Did you mean 'TDYTQ2.shp'" in message


def test_unknown_key_is_bilingual(folder: Path) -> None:
    message = _error(folder, PILOT.replace("thresholds:", "threshold:"))
    assert "未知的键 unknown key" in message and "Did you mean 'thresholds'" in message
    assert "解决 Fix:" in message


def test_duplicate_key_names_both_lines(folder: Path) -> None:
    text = PILOT.replace("thresholds:\n", "plans:\n  urban: {path: cluster.gpkg}\nthresholds:\n")
    message = _error(folder, text)
    assert "第 8 行 line 8:" in message.splitlines()[0]
    assert "'plans'" in message and "line 5" in message and "重复" in message
    assert message.splitlines()[-1].startswith("解决 Fix:")


def test_plan_not_indented_under_plans(folder: Path) -> None:
    text = PILOT.replace("  cluster: {path", "cluster: {path")
    message = _error(folder, text)
    assert "'cluster'" in message and "第 7 行 line 7" in message
    assert "not indented under `plans:`" in message and "解决 Fix: indent it" in message


def test_codes_tables_are_keyed_like_schemes(folder: Path) -> None:
    path = folder / "typed.yml"
    path.write_text(PILOT + "codes:\n  GB50137: {M4: construction}\n", encoding="utf-8")
    assert read_config(path).codes == {"gb50137": {"M4": "construction"}}
