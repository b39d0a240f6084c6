"""Tests of fiveplans.analysis.context: the CRS guard and the working-layers context."""

from __future__ import annotations

import math

import geopandas as gpd
import pandas as pd
import pyproj
import pytest
import shapely

from fiveplans.analysis import (
    WorkingLayers,
    assign_zones,
    check_crs,
    find_conflicts,
    propose_adjustments,
    villages_in_zone,
    working_layers,
)
from fiveplans.errors import CRSError, DataError, FiveplansWarning
from fiveplans.schema import SurveyFields

CRS = "EPSG:4547"
X0, Y0 = 440_000.0, 3_722_000.0


def b(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    return shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def frame(rows: list[dict], geoms: list, crs: str | None = CRS) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geoms, crs=crs)


def plan(rows: list[tuple[str, str, str | None, shapely.Geometry]]) -> gpd.GeoDataFrame:
    """rows: (source_id, legend, use, geometry)."""
    return frame(
        [{"source_id": r[0], "source_code": r[0], "legend": r[1], "use": r[2]} for r in rows],
        [r[3] for r in rows],
    )


def layers() -> dict[str, gpd.GeoDataFrame]:
    """1 km square: basic farmland x<500 (graded cultivated land), cluster construction
    400..700 x 0..200 over it, current construction x>800, a homestead, an infrastructure line."""
    return {
        "boundary": plan([("B", "other", None, b(0, 0, 1000, 1000))]),
        "land_use": plan(
            [
                ("L1", "basic_farmland", None, b(0, 0, 500, 1000)),
                ("L2", "construction", "industrial", b(500, 0, 1000, 500)),
                ("L3", "farmland", None, b(500, 500, 1000, 1000)),
            ]
        ),
        "cluster": plan([("C1", "construction", "industrial", b(400, 0, 700, 200))]),
        "urban": plan([("U1", "construction", "residential", b(400, 0, 700, 200))]),
        "ecology": plan([("E1", "ecological", None, b(900, 900, 1000, 1000))]),
        "infrastructure": plan(
            [("I1", "other", None, shapely.LineString([(X0, Y0 + 600), (X0 + 1000, Y0 + 600)]))]
        ).assign(source_code="DL110"),
        "current": frame(
            [
                {
                    "source_id": "T1",
                    "source_code": "0101",
                    "legend": "farmland",
                    "use": None,
                    "GDDB": 5,
                },
                {
                    "source_id": "T2",
                    "source_code": "0103",
                    "legend": "farmland",
                    "use": None,
                    "GDDB": 4,
                },
                {
                    "source_id": "T3",
                    "source_code": "0601",
                    "legend": "construction",
                    "use": "industrial",
                    "GDDB": None,
                },
                {
                    "source_id": "T4",
                    "source_code": "0702",
                    "legend": "construction",
                    "use": "residential",
                    "GDDB": None,
                },
            ],
            [
                b(0, 0, 500, 1000),
                b(500, 700, 700, 900),
                b(800, 0, 1000, 400),
                b(850, 500, 900, 550),
            ],
        ),
    }


# --------------------------------------------------------------------------- the CRS guard


def test_check_crs_returns_the_one_metre_crs() -> None:
    lay = layers()
    assert check_crs(lay) == pyproj.CRS(CRS)
    assert check_crs(lay["boundary"]) == pyproj.CRS(CRS)
    assert check_crs(lay, keys=["boundary", "nope"], crs=CRS) == pyproj.CRS(CRS)


@pytest.mark.parametrize(
    ("crs", "match"),
    [
        ("EPSG:4490", r"图层 'urban' 是地理坐标系.*'urban' is in a geographic CRS"),
        ("EPSG:4326", r"'urban' is in a geographic CRS \(EPSG:4326\)"),
        ("EPSG:2227", r"图层 'urban' 的单位不是米.*US survey foot"),  # California, US feet
        ("EPSG:4546", r"layers 'boundary' \(EPSG:4547\) and 'urban' \(EPSG:4546\)"),
    ],
)
def test_check_crs_names_the_layer_and_the_fix(crs: str, match: str) -> None:
    lay = layers()
    lay["urban"] = lay["urban"].to_crs(crs)
    with pytest.raises(CRSError, match=match) as err:
        check_crs(lay)
    assert "解决 Fix" in str(err.value) and "to_crs(" in str(err.value)
    # every model refuses it the same way, never reprojecting silently
    for call in (
        lambda: find_conflicts(lay),
        lambda: assign_zones(lay, None),
        lambda: propose_adjustments(lay, None),
    ):
        with pytest.raises(CRSError, match="'urban'"):
            call()


def test_check_crs_without_crs_and_against_the_pilot_crs() -> None:
    lay = layers()
    lay["ecology"] = lay["ecology"].set_crs(None, allow_override=True)
    with pytest.raises(CRSError, match="图层 'ecology' 没有坐标系 — layer 'ecology' has no CRS"):
        check_crs(lay)
    with pytest.raises(CRSError, match=r"'cluster' is in EPSG:4547, not the working CRS EPSG:4546"):
        check_crs(layers(), keys=["cluster"], crs="EPSG:4546")
    with pytest.raises(CRSError, match="geographic"):
        check_crs(layers(), crs="EPSG:4490")
    with pytest.raises(CRSError, match="no layers"):
        check_crs({})
    with pytest.raises(DataError, match="not a GeoDataFrame"):
        check_crs({"boundary": pd.DataFrame({"a": [1]})})


def test_conflicts_table_in_another_crs_is_refused() -> None:
    lay = layers()
    c = find_conflicts(lay)
    with pytest.raises(CRSError, match="'conflicts'"):
        assign_zones(lay, c.to_crs("EPSG:4546"))


# --------------------------------------------------------------------------- the context


def test_context_is_a_read_only_mapping() -> None:
    lay = dict(layers(), roads=None)
    ctx = WorkingLayers(lay)
    assert "roads" not in ctx and len(ctx) == len(lay) - 1
    assert ctx["cluster"] is lay["cluster"] and ctx.crs == pyproj.CRS(CRS)
    assert ctx.plans == ["cluster", "land_use", "urban", "ecology", "infrastructure"]
    assert working_layers(ctx) is ctx
    assert working_layers(ctx, fields=SurveyFields()) is ctx
    other = working_layers(ctx, fields=SurveyFields(grade="ZLDB"))
    assert other is not ctx and other.fields.grade == "ZLDB"
    with pytest.raises(DataError, match="mapping"):
        working_layers([lay["boundary"]])  # type: ignore[arg-type]
    with pytest.raises(DataError, match="SurveyFields"):
        WorkingLayers(lay, fields={"grade": "GDDB"})  # type: ignore[arg-type]


def test_derived_geometries_are_computed_once_per_pilot() -> None:
    ctx = WorkingLayers(layers())
    assert ctx.boundary() is ctx.boundary()
    assert ctx.basic_farmland().area == pytest.approx(500_000.0)
    assert ctx.construction().area == pytest.approx(250_000.0 + 100 * 200)  # L2 ∪ C1 ∪ U1
    assert ctx.ecological().area == pytest.approx(10_000.0)
    # DL110: 25 m wide, round ends (not clipped to the boundary)
    assert ctx.corridors().area == pytest.approx(1000 * 25.0 + math.pi * 12.5**2, rel=1e-4)
    assert ctx.basic_farmland() is ctx.basic_farmland()

    def run() -> tuple:
        c = find_conflicts(ctx, sliver_m2=0)
        z = assign_zones(ctx, c)
        a = propose_adjustments(ctx, c, zones=z)
        v = villages_in_zone(ctx, z)
        return c, z, a, v

    c, z, a, v = run()
    first = dict(ctx.computed)
    assert first["boundary"] == 1 and first["corridor_strips"] == 1
    assert first["conflicts.features"] == len(ctx.plans)  # one per plan, shared by all types
    run()
    assert dict(ctx.computed) == first  # a second pass computes nothing again
    # and the context gives the same answers as the plain mapping
    plain = layers()
    pd.testing.assert_frame_equal(
        find_conflicts(plain, sliver_m2=0).drop(columns="geometry"), c.drop(columns="geometry")
    )
    zp = assign_zones(plain, c)
    assert zp["area_m2"].tolist() == z["area_m2"].tolist()
    assert propose_adjustments(plain, c, zones=zp).farmland_balance == a.farmland_balance
    pd.testing.assert_frame_equal(villages_in_zone(plain, zp), v)


def test_corridor_lines_without_width_warn_once_per_context() -> None:
    lay = layers()
    lay["infrastructure"] = lay["infrastructure"].assign(source_code="NOPE")
    ctx = WorkingLayers(lay)
    with pytest.warns(FiveplansWarning, match="1 line\\(s\\) with code\\(s\\) NOPE") as caught:
        find_conflicts(ctx)
        propose_adjustments(ctx, None)
    assert len([w for w in caught if "corridor width" in str(w.message)]) == 1
    assert ctx.corridors().is_empty
