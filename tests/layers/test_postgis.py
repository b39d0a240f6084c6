"""Tests of fiveplans.layers.postgis against a throwaway PostGIS server (tests/postgis_server.py)."""

from __future__ import annotations

import socket

import geopandas
import psycopg
import pytest
import shapely
from shapely.geometry import Point, Polygon

from fiveplans.errors import DataError
from fiveplans.layers.postgis import read_postgis, write_postgis

pytestmark = pytest.mark.postgis

X0, Y0 = 500_000.0, 3_800_000.0  # EPSG:4547 (CGCS2000 / 3-degree GK CM 114E), central Henan


@pytest.fixture
def plan() -> geopandas.GeoDataFrame:
    """Three land-use parcels (土地用途区) with Chinese attributes, one with a hole."""
    outer = [(X0, Y0), (X0 + 300.5, Y0), (X0 + 300.5, Y0 + 200.25), (X0, Y0 + 200.25)]
    hole = [(X0 + 100, Y0 + 50), (X0 + 150, Y0 + 50), (X0 + 150, Y0 + 90), (X0 + 100, Y0 + 90)]
    return geopandas.GeoDataFrame(
        {
            "地类名称": ["一类工业用地", "物流仓储用地", "永久基本农田"],
            "TDYTQLXDM": ["010", "020", "110"],
            "编号": [1, 2, 3],
            "面积_亩": [90.3, 12.5, None],
        },
        geometry=[
            Polygon(outer, [hole]),
            Polygon([(X0 + 400, Y0), (X0 + 512.3, Y0 + 7.7), (X0 + 455, Y0 + 180.1)]),
            Point(X0 + 800, Y0 + 100).buffer(60, quad_segs=32),
        ],
        crs="EPSG:4547",
    )


def test_round_trip_chinese_attributes(postgis_url: str, plan: geopandas.GeoDataFrame) -> None:
    before = plan.copy()
    write_postgis(plan, postgis_url, "guihua.tdytq")
    assert plan.equals(before)
    back = read_postgis(postgis_url, "guihua.tdytq")
    assert back.crs.to_epsg() == 4547
    assert list(back.columns) == ["地类名称", "TDYTQLXDM", "编号", "面积_亩", "geometry"]
    assert back["地类名称"].tolist() == plan["地类名称"].tolist()
    assert back["TDYTQLXDM"].tolist() == ["010", "020", "110"]
    assert back["编号"].tolist() == [1, 2, 3]
    assert back["面积_亩"].iloc[:2].tolist() == [90.3, 12.5]
    assert back["面积_亩"].isna().iloc[2]
    assert shapely.equals_exact(back.geometry.array, plan.geometry.array, tolerance=0).all()
    # where, and the table found without its schema
    one = read_postgis(postgis_url, "tdytq", where="\"TDYTQLXDM\" = '020'")
    assert one["地类名称"].tolist() == ["物流仓储用地"]


def test_areas_match_st_area(postgis_url: str, plan: geopandas.GeoDataFrame) -> None:
    write_postgis(plan, postgis_url, "public.area_check")
    with psycopg.connect(postgis_url) as conn:
        rows = conn.execute(
            'SELECT "编号", ST_Area(geom), ST_SRID(geom) FROM area_check ORDER BY "编号"'
        ).fetchall()
    assert [r[2] for r in rows] == [4547, 4547, 4547]
    assert [r[1] for r in rows] == pytest.approx(plan.area.tolist(), rel=1e-9)
    back = read_postgis(postgis_url, "area_check")
    assert back.area.tolist() == pytest.approx([r[1] for r in rows], rel=1e-9)


def test_srid_zero_has_no_crs(postgis_url: str, plan: geopandas.GeoDataFrame) -> None:
    write_postgis(plan.set_crs(None, allow_override=True), postgis_url, "cad_local")
    back = read_postgis(postgis_url, "cad_local")
    assert back.crs is None
    assert len(back) == 3


def test_missing_table_lists_tables(postgis_url: str, plan: geopandas.GeoDataFrame) -> None:
    write_postgis(plan, postgis_url, "guihua.ydgh_2035")
    with psycopg.connect(postgis_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS plain_table (id int)")
    with pytest.raises(DataError) as err:
        read_postgis(postgis_url, "guihua.ydgh_2030")
    message = str(err.value)
    assert "does not exist" in message
    assert "guihua.ydgh_2035" in message
    assert "Did you mean 'guihua.ydgh_2035'" in message
    with pytest.raises(DataError, match="has no geometry column"):
        read_postgis(postgis_url, "plain_table")
    with pytest.raises(DataError, match="table exists"):
        write_postgis(plan, postgis_url, "guihua.ydgh_2035")
    write_postgis(plan.iloc[:1], postgis_url, "guihua.ydgh_2035", if_exists="replace")
    assert len(read_postgis(postgis_url, "guihua.ydgh_2035")) == 1


def test_bad_where_names_condition(postgis_url: str, plan: geopandas.GeoDataFrame) -> None:
    write_postgis(plan, postgis_url, "where_check")
    with pytest.raises(DataError, match="no_such_column"):
        read_postgis(postgis_url, "where_check", where="no_such_column = 1")


def test_connection_failure_hides_password() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1] - 1
    wrong = f"postgresql://planner:s3cret-pw@127.0.0.1:{port + 1}/guihua"
    with pytest.raises(DataError) as err:
        read_postgis(wrong, "tdytq")
    message = str(err.value)
    assert "s3cret-pw" not in message
    assert "127.0.0.1" in message
    assert str(port + 1) in message
    assert "guihua" in message
    assert "pg_isready" in message
    with pytest.raises(DataError, match="not a PostgreSQL URL"):
        read_postgis("mysql://x@y/z", "tdytq")
