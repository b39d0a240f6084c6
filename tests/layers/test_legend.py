"""Tests of the code tables and the legend crosswalk (fiveplans.layers.legend)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fiveplans.errors import ConfigError, DataError
from fiveplans.layers.legend import (
    LEGEND_CLASSES,
    LEGEND_LABELS,
    USE_CLASSES,
    USE_LABELS,
    LegendResult,
    apply_legend,
    code_table,
    guess_scheme,
    normalize_code,
    schemes,
)

ALL_SCHEMES = (
    "gbt21010",
    "gb50137",
    "ydyh2023",
    "ydyh2020",
    "tdytq",
    "gzq",
    "ecology",
    "infrastructure",
)
#: scheme -> the reference table it copies (shared/reference/codes)
REFERENCE_FILES = {
    "gbt21010": "gbt21010_2017.csv",
    "gb50137": "gb50137_2011.csv",
    "ydyh2023": "ydyh_2023.csv",
    "tdytq": "tdytq.csv",
    "gzq": "gzq.csv",
}
COPIED_COLUMNS = ["code", "name_zh", "level", "parent_code", "note"]
#: the standard each scheme's rows belong to (the authority; public copies are cross-checks)
AUTHORITIES = {
    "gbt21010": "GB/T 21010-2017",
    "gb50137": "GB 50137-2011",
    "ydyh2023": "自然资发〔2023〕234号",
    "ydyh2020": "自然资办发〔2020〕51号",
    "tdytq": "TD/T 1027-2010",
    "gzq": "TD/T 1027-2010",
    "ecology": "no national code standard",
    "infrastructure": "no national code standard",
}


@pytest.fixture(scope="session")
def reference(real_data: Path) -> Path:
    """The reference code tables beside the real data (shared/reference/codes)."""
    folder = real_data.parent.parent / "reference" / "codes"
    if not folder.is_dir():
        pytest.skip(f"reference code tables not found at {folder}")
    return folder


def _read_reference(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / name, dtype=str, keep_default_na=False)


def _as_text(table: pd.DataFrame) -> pd.DataFrame:
    """A shipped table in the reference's form: every column text, missing as ""."""
    out = table.copy()
    out["level"] = out["level"].astype(str)
    return out.fillna("").astype(str)


# ------------------------------------------------------------------------------ the tables


def test_schemes_are_the_contract_set() -> None:
    assert set(schemes()) == set(ALL_SCHEMES)
    assert schemes()[:2] == ["gbt21010", "gb50137"]


def test_labels_are_bilingual_chinese_first() -> None:
    assert tuple(LEGEND_LABELS) == LEGEND_CLASSES
    assert tuple(USE_LABELS) == USE_CLASSES
    for label in [*LEGEND_LABELS.values(), *USE_LABELS.values()]:
        chinese, _, english = label.partition(" ")
        assert "\u4e00" <= chinese[0] <= "\u9fff", label
        assert english and english.isascii(), label


@pytest.mark.parametrize("scheme", ALL_SCHEMES)
def test_table_is_consistent(scheme: str) -> None:
    table = code_table(scheme)
    assert len(table) > 0
    assert table["code"].is_unique
    assert table["code"].notna().all() and table["name_zh"].notna().all()
    assert table["authority"].notna().all() and table["checked"].notna().all()
    assert table["authority"].str.contains(AUTHORITIES[scheme], regex=False).all()
    assert set(table["legend"]) <= set(LEGEND_CLASSES)
    construction = table["legend"] == "construction"
    assert table.loc[construction, "use"].isin(USE_CLASSES).all()
    assert table.loc[~construction, "use"].isna().all()
    by_code = table.set_index("code")
    for code, parent, level in zip(
        table["code"], table["parent_code"], table["level"], strict=True
    ):
        if level == 1:
            assert parent is None, code
        else:
            assert parent in by_code.index, f"{scheme} {code}: parent {parent} missing"
            assert by_code.at[parent, "level"] == level - 1, code
            assert code.startswith(parent), code
    aliases = [a for text in table["aliases"].dropna() for a in text.split(";")]
    assert len(aliases) == len(set(aliases))
    assert not set(aliases) & set(table["code"])
    assert not set(aliases) & set(table["name_zh"])


@pytest.mark.parametrize("scheme", ALL_SCHEMES)
def test_every_code_and_unique_name_normalizes_to_itself(scheme: str) -> None:
    table = code_table(scheme)
    names = Counter(table["name_zh"])
    for code, name in zip(table["code"], table["name_zh"], strict=True):
        assert normalize_code(code, scheme) == code
        assert normalize_code(f" {code.lower()} ", scheme) == code
        if names[name] == 1:
            assert normalize_code(name, scheme) == code
        else:
            assert normalize_code(name, scheme) is None


@pytest.mark.parametrize("scheme", sorted(REFERENCE_FILES))
def test_table_copies_the_reference_rows(scheme: str, reference: Path) -> None:
    expected = _read_reference(reference, REFERENCE_FILES[scheme])
    shipped = _as_text(code_table(scheme))
    assert len(shipped) == len(expected)
    pd.testing.assert_frame_equal(
        shipped[COPIED_COLUMNS].reset_index(drop=True), expected[COPIED_COLUMNS]
    )
    # the reference's public sources are kept as cross-checks, never as the authority
    assert shipped["cross_checks"].tolist() == expected["source"].tolist()
    assert not shipped["authority"].str.contains("public code base|http", regex=True).any()
    if scheme == "ydyh2023":
        assert shipped["edition_2020_differs"].tolist() == expected["edition_2020_differs"].tolist()


def test_ydyh2020_follows_the_reference_flags(reference: Path) -> None:
    ref = _read_reference(reference, "ydyh_2023.csv")
    y20 = code_table("ydyh2020").set_index("code")
    unchanged = ref[ref["edition_2020_differs"] == "no"]
    # the reference says 22 rows differ (plus one not checked)
    assert (ref["edition_2020_differs"] == "yes").sum() == 22
    for code, name in zip(unchanged["code"], unchanged["name_zh"], strict=True):
        assert y20.at[code, "name_zh"] == name
        assert y20.at[code, "differs_from_2023"] == "no"
    assert (y20["differs_from_2023"] == "no").sum() == len(unchanged)
    y23 = code_table("ydyh2023").set_index("code")
    # codes whose meaning changed between editions (reference README)
    for code in ("0204", "0602", "1311", "1312", "2202", "2302", "2303"):
        assert y20.at[code, "name_zh"] != y23.at[code, "name_zh"], code
    assert y20.at["0204", "name_zh"] == "其他园地"
    assert y20.at["2302", "name_zh"] == "田坎"
    assert y23.at["2303", "name_zh"] == "田坎"
    assert "0205" not in y20.index  # 2023's 其他园地
    assert y20.at["1313", "name_zh"] == "其他公用设施用地"
    assert "not checked" in y20.at["0203", "note"]


SPOT_CHECKS = [
    ("gbt21010", "0702", "农村宅基地", "construction", "residential"),
    ("gbt21010", "06", "工矿仓储用地", "construction", "industrial"),
    ("gbt21010", "0604", "仓储用地", "construction", "logistics"),
    ("gbt21010", "0809", "公用设施用地", "construction", "utilities"),
    ("gbt21010", "0810", "公园与绿地", "construction", "green"),
    ("gbt21010", "1006", "农村道路", "other", None),
    ("gbt21010", "1109", "水工建筑用地", "construction", "utilities"),
    ("gbt21010", "1203", "田坎", "farmland", None),
    ("gbt21010", "0101", "水田", "farmland", None),
    ("gb50137", "M1", "一类工业用地", "construction", "industrial"),
    ("gb50137", "M", "工业用地", "construction", "industrial"),
    ("gb50137", "H21", "铁路用地", "construction", "transport"),
    ("gb50137", "H22", "公路用地", "construction", "transport"),
    ("gb50137", "H14", "村庄建设用地", "construction", "residential"),
    ("gb50137", "W1", "一类物流仓储用地", "construction", "logistics"),
    ("gb50137", "E1", "水域", "water", None),
    ("gb50137", "E2", "农林用地", "farmland", None),
    ("tdytq", "010", "基本农田保护区", "basic_farmland", None),
    ("tdytq", "050", "独立工矿区", "construction", "industrial"),
    ("tdytq", "070", "生态环境安全控制区", "ecological", None),
    ("gzq", "010", "允许建设区", "construction", "other"),
    ("gzq", "040", "禁止建设区", "ecological", None),
    ("ydyh2023", "100101", "一类工业用地", "construction", "industrial"),
    ("ydyh2023", "1101", "物流仓储用地", "construction", "logistics"),
    ("ecology", "STBHHX", "生态保护红线", "ecological", None),
    ("ecology", "GYL", "公益林", "forest", None),
    ("infrastructure", "WLZX", "物流中心", "construction", "logistics"),
    ("infrastructure", "XFZ", "消防站", "construction", "public"),
    ("infrastructure", "DL500", "500kV高压线走廊", "other", None),
]


@pytest.mark.parametrize(("scheme", "code", "name", "legend", "use"), SPOT_CHECKS)
def test_known_mappings(scheme: str, code: str, name: str, legend: str, use: str | None) -> None:
    row = code_table(scheme).set_index("code").loc[code]
    assert (row["name_zh"], row["legend"], row["use"]) == (name, legend, use)
    result = apply_legend(pd.Series([code]), scheme)
    assert result.frame.iloc[0].tolist() == [code, code, legend, use, name]


def test_infrastructure_corridors() -> None:
    table = code_table("infrastructure").set_index("code")
    widths = {"DL500": 75, "DL220": 40, "DL110": 25, "RQGD": 10, "TL": 30, "GSGL": 100}
    lines = table[table["geometry"] == "line"]
    assert set(lines.index) == set(widths)
    for code, width in widths.items():
        assert table.at[code, "corridor_width_m"] == width
        assert table.at[code, "legend"] == "other"
        assert "default" in table.at[code, "note"]
    facilities = table[table["geometry"] != "line"]
    assert facilities["corridor_width_m"].isna().all()
    assert (facilities["legend"] == "construction").all()
    assert set(table["geometry"]) <= {"line", "polygon", "point"}


def test_editions_are_kept_apart() -> None:
    values = pd.Series(["2302", "0204"])
    y20 = apply_legend(values, "ydyh2020").frame
    y23 = apply_legend(values, "ydyh2023").frame
    assert y20["name_zh"].tolist() == ["田坎", "其他园地"]
    assert y23["name_zh"].tolist() == ["后备耕地", "油料园地"]
    assert y20.at[0, "legend"] == "farmland"
    assert y23.at[0, "legend"] == "other"


def test_code_table_is_a_copy() -> None:
    table = code_table("tdytq")
    table.loc[:, "legend"] = "water"
    assert code_table("tdytq").set_index("code").at["010", "legend"] == "basic_farmland"


def test_unknown_scheme_names_the_closest() -> None:
    with pytest.raises(ConfigError, match=r"gb5137.*Did you mean 'gb50137'.*gbt21010"):
        code_table("gb5137")
    with pytest.raises(ConfigError, match="tdytq"):
        normalize_code("010", "tdytqq")
    assert normalize_code("010", " TDYTQ ") == "010"


# ------------------------------------------------------------------------------ normalize_code


@pytest.mark.parametrize(
    ("value", "scheme", "expected"),
    [
        (10, "tdytq", "010"),
        (10.0, "tdytq", "010"),
        (101.0, "gbt21010", "0101"),
        (101, "gbt21010", "0101"),
        ("101.0", "gbt21010", "0101"),
        (702, "gbt21010", "0702"),
        (6, "gbt21010", "06"),
        ("Ｍ１", "gb50137", "M1"),
        ("ｍ１", "gb50137", "M1"),
        ("m1", "gb50137", "M1"),
        (" M1\t", "gb50137", "M1"),
        ("M1-一类工业用地", "gb50137", "M1"),
        ("M1 一类工业", "gb50137", "M1"),
        ("h21铁路用地", "gb50137", "H21"),
        ("一类工业用地", "gb50137", "M1"),
        ("一类工业用地", "ydyh2023", "100101"),
        ("0702 农村宅基地", "gbt21010", "0702"),
        ("010", "tdytq", "010"),
        (110, "tdytq", "100"),
        ("一般农用地区", "tdytq", "020"),
        ("021", "gzq", "020"),
        (1, "gzq", "010"),
        ("消防设施用地", "gb50137", "U31"),
        ("stbhhx", "ecology", "STBHHX"),
        # not codes of the scheme
        ("011", "gbt21010", None),  # GB/T 21010-2007 code
        ("05H1", "gbt21010", None),  # 三调 working code
        ("住宅用地", "gb50137", None),  # R11, R21 and R31 share this name
        ("M", "tdytq", None),
        (10.5, "tdytq", None),
        (True, "gzq", None),
        ("M9", "gb50137", None),
        ("M1一", "ydyh2023", None),
        # empty
        (None, "tdytq", None),
        (float("nan"), "tdytq", None),
        (pd.NA, "tdytq", None),
        ("", "tdytq", None),
        ("　", "tdytq", None),  # full-width space
    ],
)
def test_normalize_code(value: object, scheme: str, expected: str | None) -> None:
    assert normalize_code(value, scheme) == expected


# ------------------------------------------------------------------------------ apply_legend


def test_unknown_codes_are_counted_with_examples() -> None:
    raw = ["M1", "X9", "X9", None, "R2", "05H1", "X9", "x9", "W1", "X9", "X9", "X9", "X9"]
    index = pd.Index([f"f{i:02d}" for i in range(len(raw))], name="fid")
    values = pd.Series(raw, index=index, name="YDDM")
    result = apply_legend(values, "gb50137", where="cluster (c.shp, field YDDM)")
    assert isinstance(result, LegendResult)
    frame = result.frame
    assert frame.index.equals(index)
    assert list(frame.columns) == ["source_code", "code", "legend", "use", "name_zh"]
    unknown_expected = Counter(v for v in raw if v in ("X9", "x9", "05H1"))
    assert dict(zip(result.unknown["value"], result.unknown["count"], strict=True)) == dict(
        unknown_expected
    )
    assert result.unknown["value"].iloc[0] == "X9"  # most frequent first
    x9 = result.unknown.set_index("value").at["X9", "example_ids"]
    assert x9 == [f"f{i:02d}" for i, v in enumerate(raw) if v == "X9"][:5]
    unknown_rows = frame["source_code"].isin(unknown_expected)
    assert (frame.loc[unknown_rows, "legend"] == "other").all()
    assert frame.loc[unknown_rows, "use"].isna().all()
    assert frame.loc[unknown_rows, "code"].isna().all()
    assert frame.at["f03", "source_code"] is None and frame.at["f03", "legend"] == "other"
    assert frame.at["f00", "use"] == "industrial" and frame.at["f08", "use"] == "logistics"


def test_source_code_keeps_the_raw_value() -> None:
    values = pd.Series([10.0, 20, " 030 ", "Ｍ"], index=[3, 1, 2, 0])
    frame = apply_legend(values, "tdytq").frame
    assert frame["source_code"].tolist() == ["10", "20", " 030 ", "Ｍ"]
    assert frame["code"].tolist() == ["010", "020", "030", None]


def test_all_unknown_raises_with_a_suggested_scheme() -> None:
    values = pd.Series(["010", "020", "010", "050"], index=[7, 8, 9, 10])
    where = "land_use (tugui/TDYTQ.shp, field TDYTQLXDM)"
    with pytest.raises(DataError) as caught:
        apply_legend(values, "gb50137", where=where)
    message = str(caught.value)
    assert message.startswith(where)
    assert "'gb50137'" in message and "'010'" in message
    assert "scheme: tdytq" in message


def test_all_unknown_without_any_match_suggests_overrides() -> None:
    with pytest.raises(DataError, match=r"codes: table"):
        apply_legend(pd.Series(["foo", "bar"]), "tdytq", where="land_use (x.shp, field A)")


def test_all_empty_raises_and_empty_input_is_fine() -> None:
    with pytest.raises(DataError, match=r"x\.shp.*empty"):
        apply_legend(pd.Series([None, "", float("nan")]), "tdytq", where="land_use (x.shp)")
    result = apply_legend(pd.Series([], dtype=object), "tdytq")
    assert result.frame.empty and result.unknown.empty
    assert list(result.unknown.columns) == ["value", "count", "example_ids"]


def test_guess_scheme_ranks_by_share() -> None:
    ranked = guess_scheme(pd.Series(["M1", "R2", "S1", "XX", None]))
    assert ranked[0] == ("gb50137", 0.75)
    assert {name for name, _ in ranked} == set(ALL_SCHEMES)
    shares = [share for _, share in ranked]
    assert shares == sorted(shares, reverse=True)
    assert guess_scheme(pd.Series([10, 20, 990]))[0] == ("tdytq", 1.0)
    assert all(share == 0.0 for _, share in guess_scheme(pd.Series([], dtype=object)))


# ------------------------------------------------------------------------------ overrides


def test_overrides_map_unknown_and_known_codes() -> None:
    values = pd.Series(["05H1", "0508", "0101", "1230"], index=[5, 6, 7, 8])
    result = apply_legend(
        values,
        "gbt21010",
        overrides={
            "05h1": {
                "legend": "construction",
                "use": "commercial",
                "name_zh": "商业服务业设施用地",
            },
            "0508": {"legend": "construction", "use": "logistics"},
            101: "basic_farmland",
            1230: "farmland",
        },
    )
    assert result.unknown.empty
    frame = result.frame
    assert frame["legend"].tolist() == [
        "construction",
        "construction",
        "basic_farmland",
        "farmland",
    ]
    assert frame["use"].tolist() == ["commercial", "logistics", None, None]
    assert frame.at[5, "name_zh"] == "商业服务业设施用地"
    assert frame.at[7, "name_zh"] == "水田"  # a known code keeps its name
    assert frame.at[7, "code"] == "0101"


def test_construction_override_keeps_or_defaults_the_use() -> None:
    values = pd.Series(["030", "040", "ZZ", "010"])
    frame = apply_legend(
        values, "tdytq", overrides={"030": "construction", "ZZ": "construction"}
    ).frame
    assert frame["use"].tolist() == ["other", "residential", "other", None]


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        ({"010": "farm"}, r"code override '010'.*'farm'.*basic_farmland, farmland, construction"),
        ({"M9": {"legend": "construction", "use": "factory"}}, r"'M9'.*'factory'.*industrial"),
        ({"M1": {"legend": "water", "use": "industrial"}}, r"'M1'.*construction land only"),
        ({"M1": {"legend": "construction", "colour": "red"}}, r"'M1'.*colour"),
        ({"M9": {"use": "industrial"}}, r"'M9'.*needs a legend"),
        ({"M1": 3}, r"'M1'.*legend class"),
        (["M1"], r"mapping"),
    ],
)
def test_overrides_are_validated(overrides: object, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        apply_legend(pd.Series(["M1"]), "gb50137", overrides=overrides, where="cluster")


# ------------------------------------------------------------------------------ properties

_KNOWN = ["M1", "R2", "H21", "E2", "W1", "m1", "Ｂ１"]
_RAW = st.one_of(
    st.sampled_from(_KNOWN),
    st.text(max_size=6),
    st.none(),
    st.integers(min_value=-5, max_value=2000),
    st.floats(allow_nan=True, allow_infinity=True),
)
_LABELS = st.one_of(st.integers(), st.text(max_size=4))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.lists(st.tuples(_LABELS, _RAW), min_size=0, max_size=30),
    anchor=st.sampled_from(_KNOWN),
)
def test_apply_legend_is_aligned_and_never_mutates(
    data: list[tuple[object, object]], anchor: str
) -> None:
    labels = ["anchor", *(label for label, _ in data)]
    raw = [anchor, *(value for _, value in data)]
    values = pd.Series(raw, index=pd.Index(labels, dtype=object), dtype=object)
    before = values.copy(deep=True)
    result = apply_legend(values, "gb50137")
    pd.testing.assert_series_equal(values, before)
    assert result.frame.index.equals(values.index)
    assert len(result.frame) == len(values)
    assert result.frame["legend"].isin(LEGEND_CLASSES).all()
    expected_codes = [normalize_code(v, "gb50137") for v in raw]
    assert result.frame["code"].tolist() == expected_codes
    construction = result.frame["legend"] == "construction"
    assert result.frame.loc[construction, "use"].isin(USE_CLASSES).all()
    assert result.frame.loc[~construction, "use"].isna().all()
    n_unknown = sum(
        code is None
        and not (v is None or (isinstance(v, float) and v != v) or str(v).strip() == "")
        for v, code in zip(raw, expected_codes, strict=True)
    )
    assert int(result.unknown["count"].sum()) == n_unknown
    assert all(1 <= len(ids) <= 5 for ids in result.unknown["example_ids"])


@pytest.mark.parametrize("scheme", ALL_SCHEMES)
def test_rows_say_how_they_were_checked(scheme: str) -> None:
    table = code_table(scheme)
    n_sources = table["cross_checks"].fillna("").str.split(" ; ").str.len()
    unverified = table["note"].fillna("").str.contains("unverified")
    for checked, n, flagged in zip(table["checked"], n_sources, unverified, strict=True):
        if scheme in ("ecology", "infrastructure"):
            assert checked.startswith("project default"), checked
        elif flagged:
            assert checked.startswith("unverified"), checked
            assert ("single source" in checked) == (n == 1), checked
        elif n == 1:
            assert checked.startswith("single source"), checked
        else:
            assert checked.startswith(f"{n} public copies agree"), checked


def test_single_source_rows_are_flagged() -> None:
    table = code_table("gbt21010")
    single = table[table["checked"].str.contains("single source")]
    assert len(single) > 0
    assert (single["cross_checks"].str.split(" ; ").str.len() == 1).all()


def test_recognised_share_counts_features_not_values() -> None:
    from fiveplans.layers.legend import recognised_share

    values = pd.Series(["M1", "M1", "M1", "XX", None, ""])
    assert recognised_share(values, "GB50137") == pytest.approx(3 / 4)
    assert recognised_share(pd.Series([], dtype=object), "gb50137") == 0.0
    assert recognised_share(["一类工业用地", "M2"], "gb50137") == 1.0
