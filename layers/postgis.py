"""Read and write PostGIS tables (空间数据库) with psycopg 3, no GDAL PostgreSQL driver needed.

Provincial and municipal planning platforms (国土空间基础信息平台) often serve plans from a
PostGIS database rather than files. :func:`read_postgis` reads one table's geometry (found
through ``geometry_columns``) and attributes; :func:`write_postgis` creates a table from a
GeoDataFrame (used by tests and for handing results back to a database).
"""

from __future__ import annotations

import datetime as dt
import difflib
import logging
from decimal import Decimal
from typing import Any, Literal

import geopandas
import numpy as np
import pandas as pd
import psycopg
import pyproj
import shapely
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from fiveplans.errors import CRSError, DataError

__all__ = ["read_postgis", "write_postgis"]

logger = logging.getLogger(__name__)

_GEOMETRY_NAMES = ("geom", "geometry", "the_geom", "shape", "wkb_geometry")


def read_postgis(url: str, table: str, *, where: str = "") -> geopandas.GeoDataFrame:
    """Read a PostGIS table: its geometry column and every other column as attributes.

    Parameters
    ----------
    url
        ``postgresql://user:password@host:port/database`` (libpq URL; a password can also come
        from ``~/.pgpass`` or ``PGPASSWORD``).
    table
        ``schema.table`` or ``table`` (searched in every schema, ``public`` first).
    where
        An SQL condition selecting rows (e.g. ``"xzqdm LIKE '4101%'"``), written by the pilot's
        author and sent as is.

    Returns
    -------
    geopandas.GeoDataFrame
        The table's columns in their order (``numeric`` as float), and ``geometry`` read with
        ``ST_AsBinary``; CRS from the SRID (none for SRID 0).

    Raises
    ------
    DataError
        The server cannot be reached, the table or its geometry column is not found (the
        message lists the tables that have geometry), or the query fails.
    CRSError
        The SRID is not known to PROJ nor defined in ``spatial_ref_sys``, or rows mix SRIDs.
    """
    where_in = f"{_safe_url(url)} table {table}"
    with _connect(url) as conn:
        schema, name, column, srid = _find_geometry(conn, url, table)
        qualified = sql.Identifier(schema, name)
        columns = [
            c for c in _columns(conn, schema, name) if c[0] != column and c[1] not in _GEO_TYPES
        ]
        if srid == 0:
            srid = _actual_srid(conn, qualified, column, where_in)
        query = sql.SQL("SELECT {cols}ST_AsBinary({geom}) FROM {table}{where}").format(
            cols=sql.SQL("").join(
                sql.SQL("{}, ").format(sql.Identifier(c)) for c, _type in columns
            ),
            geom=sql.Identifier(column),
            table=qualified,
            where=sql.SQL(f" WHERE {where}") if where.strip() else sql.SQL(""),
        )
        try:
            rows = conn.execute(query).fetchall()
        except psycopg.Error as exc:
            hint = f" Check the `where:` condition {where!r}." if where.strip() else ""
            raise DataError(f"{where_in}: the query failed ({exc}).{hint}") from exc
        crs = _crs(conn, srid, where_in)
    names = [c for c, _type in columns]
    frame = (
        pd.DataFrame.from_records([row[:-1] for row in rows], columns=names, coerce_float=True)
        if rows
        else pd.DataFrame({c: pd.Series(dtype=object) for c in names})
    )
    for c in names:
        if frame[c].map(lambda v: isinstance(v, Decimal)).any():
            frame[c] = pd.to_numeric(frame[c].map(lambda v: None if v is None else float(v)))
    geoms = shapely.from_wkb([None if row[-1] is None else bytes(row[-1]) for row in rows])
    gdf = geopandas.GeoDataFrame(frame, geometry=geopandas.GeoSeries(geoms), crs=crs)
    logger.info("%s: read %d rows (geometry %s, SRID %d)", where_in, len(gdf), column, srid)
    return gdf


def write_postgis(
    gdf: geopandas.GeoDataFrame,
    url: str,
    table: str,
    *,
    if_exists: Literal["fail", "replace"] = "fail",
) -> None:
    """Create *table* from *gdf* and copy its rows in.

    Parameters
    ----------
    gdf
        The features; their CRS must have an EPSG code (or be unset: SRID 0). Not modified.
    url
        ``postgresql://…`` URL of a database with the PostGIS extension.
    table
        ``schema.table`` or ``table`` (in ``public``); the schema is created when missing.
    if_exists
        ``"fail"`` (a :class:`DataError` if the table exists) or ``"replace"``.

    Notes
    -----
    Columns become ``bigint``, ``double precision``, ``boolean``, ``timestamp`` or ``text``;
    the geometry column ``geom`` is ``geometry(Geometry, SRID)`` (``GeometryZ`` for 3D).
    """
    where_in = f"{_safe_url(url)} table {table}"
    srid = 0
    if gdf.crs is not None:
        epsg = gdf.crs.to_epsg()
        if epsg is None:
            raise CRSError(
                f"{where_in}: the GeoDataFrame's CRS has no EPSG code ({gdf.crs.name}); "
                "reproject it to an EPSG CRS (e.g. `gdf.to_crs('EPSG:4547')`) before writing."
            )
        srid = int(epsg)
    schema, _, name = table.rpartition(".")
    schema = schema or "public"
    attributes = gdf.drop(columns=gdf.geometry.name)
    has_z = bool(gdf.has_z.any())
    column_defs = [
        sql.SQL("{} {}").format(sql.Identifier(str(c)), sql.SQL(_pg_type(attributes[c])))
        for c in attributes.columns
    ]
    geom_type = "GeometryZ" if has_z else "Geometry"
    column_defs.append(sql.SQL(f"geom geometry({geom_type}, {srid})"))
    qualified = sql.Identifier(schema, name)
    with _connect(url) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", [f'"{schema}"."{name}"']).fetchone()
        if exists and exists[0] is not None:
            if if_exists != "replace":
                raise DataError(
                    f"{where_in}: the table exists; drop it or pass if_exists='replace'."
                )
            conn.execute(sql.SQL("DROP TABLE {}").format(qualified))
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(
            sql.SQL("CREATE TABLE {} ({})").format(qualified, sql.SQL(", ").join(column_defs))
        )
        geoms = shapely.set_srid(np.asarray(gdf.geometry.array, dtype=object), srid)
        ewkb = shapely.to_wkb(geoms, hex=True, include_srid=True, output_dimension=3)
        values = [_python_values(attributes[c]) for c in attributes.columns]
        names = [sql.Identifier(str(c)) for c in attributes.columns] + [sql.Identifier("geom")]
        copy = sql.SQL("COPY {} ({}) FROM STDIN").format(qualified, sql.SQL(", ").join(names))
        with conn.cursor() as cur, cur.copy(copy) as out:
            for i in range(len(gdf)):
                out.write_row([*(v[i] for v in values), ewkb[i]])
        conn.commit()
    logger.info("%s: wrote %d rows (SRID %d)", where_in, len(gdf), srid)


_GEO_TYPES = {"geometry", "geography", "raster"}


def _safe_url(url: str) -> str:
    """*url* for messages: ``postgresql://user@host:port/db`` without the password."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.Error:
        return "postgresql://…"
    user = f"{info['user']}@" if info.get("user") else ""
    host = info.get("host") or "localhost"
    port = info.get("port") or "5432"
    return f"postgresql://{user}{host}:{port}/{info.get('dbname') or ''}"


def _connect(url: str) -> psycopg.Connection[Any]:
    """Connect to *url* (UTF-8 client encoding), or a :class:`DataError` naming the fix."""
    if not url.startswith(("postgresql://", "postgres://")):
        raise DataError(
            f"{url!r} is not a PostgreSQL URL; write it as "
            "postgresql://user:password@host:5432/database."
        )
    try:
        info = conninfo_to_dict(url)
    except psycopg.Error as exc:
        raise DataError(
            f"{_safe_url(url)}: malformed PostgreSQL URL ({exc}); write it as "
            "postgresql://user:password@host:5432/database."
        ) from exc
    try:
        return psycopg.connect(url, connect_timeout=10, client_encoding="utf8")
    except psycopg.OperationalError as exc:
        host = info.get("host") or "localhost"
        port = info.get("port") or "5432"
        db = info.get("dbname") or "(default)"
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        password = info.get("password")
        if password:
            detail = detail.replace(str(password), "***")
        raise DataError(
            f"cannot connect to PostgreSQL at host {host} port {port} database {db} "
            f"({detail}). Fix: start the server or correct host/port in the URL "
            f"(check with `pg_isready -h {host} -p {port}`), and check the user, password "
            "(or ~/.pgpass) and database name."
        ) from exc


def _find_geometry(
    conn: psycopg.Connection[Any], url: str, table: str
) -> tuple[str, str, str, int]:
    """Schema, table, geometry column and SRID of *table* from ``geometry_columns``."""
    where_in = f"{_safe_url(url)} table {table}"
    try:
        listed = conn.execute(
            "SELECT f_table_schema, f_table_name, f_geometry_column, srid "
            "FROM geometry_columns ORDER BY f_table_schema, f_table_name, f_geometry_column"
        ).fetchall()
    except psycopg.errors.UndefinedTable as exc:
        raise DataError(
            f"{where_in}: the database has no PostGIS (no geometry_columns view); run "
            "`CREATE EXTENSION postgis;` in it or connect to the database holding the plans."
        ) from exc
    schema, _, name = table.rpartition(".")
    matches = [r for r in listed if r[1] == name and (not schema or r[0] == schema)]
    if not matches:
        known = [f"{s}.{t}" for s, t, _c, _srid in listed]
        plain = conn.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = %s"
            + (" AND table_schema = %s" if schema else ""),
            [name, schema] if schema else [name],
        ).fetchall()
        reason = "has no geometry column" if plain else "does not exist"
        close = difflib.get_close_matches(table, known, n=1, cutoff=0.5) or (
            difflib.get_close_matches(name, [k.split(".", 1)[1] for k in known], n=1, cutoff=0.5)
        )
        hint = f" Did you mean {close[0]!r}?" if close else ""
        listing = ", ".join(sorted(set(known))) if known else "none"
        raise DataError(
            f"{where_in}: the table {reason}.{hint} Tables with geometry: {listing}. "
            "Fix the table name in the pilot YAML (as schema.table)."
        )
    if not schema and len({r[0] for r in matches}) > 1:
        public = [r for r in matches if r[0] == "public"]
        if not public:
            options = ", ".join(sorted({f"{r[0]}.{r[1]}" for r in matches}))
            raise DataError(
                f"{where_in}: the name is in several schemas ({options}); write it as schema.table."
            )
        matches = public
    if len(matches) > 1:
        by_name = {r[2]: r for r in matches}
        chosen = next((by_name[n] for n in _GEOMETRY_NAMES if n in by_name), matches[0])
        logger.info(
            "%s: %d geometry columns (%s); reading %s",
            where_in,
            len(matches),
            ", ".join(r[2] for r in matches),
            chosen[2],
        )
        matches = [chosen]
    s, t, c, srid = matches[0]
    return str(s), str(t), str(c), int(srid or 0)


def _columns(conn: psycopg.Connection[Any], schema: str, name: str) -> list[tuple[str, str]]:
    """(name, udt_name) of the table's columns, in order."""
    return [
        (str(c), str(t))
        for c, t in conn.execute(
            "SELECT column_name, udt_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            [schema, name],
        ).fetchall()
    ]


def _actual_srid(
    conn: psycopg.Connection[Any], qualified: sql.Composable, column: str, where_in: str
) -> int:
    """The rows' SRID when the column is not constrained to one (geometry without typmod)."""
    srids = [
        int(r[0])
        for r in conn.execute(
            sql.SQL("SELECT DISTINCT ST_SRID({}) FROM {} WHERE {} IS NOT NULL LIMIT 3").format(
                sql.Identifier(column), qualified, sql.Identifier(column)
            )
        ).fetchall()
    ]
    if len(srids) > 1:
        raise CRSError(
            f"{where_in}: rows mix SRIDs {sorted(srids)} in column {column}; transform them to "
            "one (UPDATE … SET geom = ST_Transform(geom, 4547)) or select one with `where:`."
        )
    return srids[0] if srids else 0


def _crs(conn: psycopg.Connection[Any], srid: int, where_in: str) -> pyproj.CRS | None:
    """CRS of *srid*: the EPSG code, else the WKT in ``spatial_ref_sys``; None for 0."""
    if srid == 0:
        return None
    try:
        return pyproj.CRS.from_epsg(srid)
    except pyproj.exceptions.CRSError:
        pass
    row = conn.execute(
        "SELECT srtext, proj4text FROM spatial_ref_sys WHERE srid = %s", [srid]
    ).fetchone()
    for text in row or ():
        if text:
            try:
                return pyproj.CRS.from_user_input(text)
            except pyproj.exceptions.CRSError:
                continue
    raise CRSError(
        f"{where_in}: SRID {srid} is neither an EPSG code nor defined in spatial_ref_sys; "
        "give the layer's `crs:` in the pilot YAML or fix the SRID (UpdateGeometrySRID)."
    )


def _pg_type(series: pd.Series) -> str:
    """PostgreSQL column type for a pandas column."""
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_integer_dtype(series):
        return "bigint"
    if pd.api.types.is_float_dtype(series):
        return "double precision"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "timestamptz" if getattr(series.dt, "tz", None) is not None else "timestamp"
    return "text"


def _python_values(series: pd.Series) -> list[Any]:
    """The column as Python values for COPY, missing values as None, objects as text."""
    text = _pg_type(series) == "text"
    out: list[Any] = []
    for value in series.astype(object).tolist():
        if value is None or (not isinstance(value, (str, bytes)) and pd.isna(value)):
            out.append(None)
        elif text and not isinstance(value, str):
            out.append(value.isoformat() if isinstance(value, (dt.date, dt.time)) else str(value))
        elif isinstance(value, pd.Timestamp):
            out.append(value.to_pydatetime())
        elif isinstance(value, np.generic):
            out.append(value.item())
        else:
            out.append(value)
    return out
