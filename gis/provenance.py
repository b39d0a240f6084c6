"""Provenance of a run (来源记录): tool and library versions, config and input hashes, timing.

:func:`provenance` builds the ``provenance`` block of ``summary.json`` (CONTRACT §5). The hashes
let a reader check which files a result came from (``sha256sum`` gives the same digests) and let
``fiveplans batch --resume`` tell an unchanged pilot from a changed one.

Every file that changes what a pilot means is hashed: the layer files, a Shapefile's sidecars
(``.dbf`` attributes, ``.shx`` index, ``.prj`` CRS, ``.cpg`` encoding), a FileGDB folder (over all
its files), CAD control points and the ledger. PostGIS sources are recorded by URL, without the
password, and have no hash (the database may change under the same URL).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import platform
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from fiveplans.config import PilotConfig

__all__ = [
    "LIBRARIES",
    "config_sha256",
    "file_sha256",
    "input_files",
    "library_versions",
    "provenance",
]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
#: Sidecars that change what a Shapefile means (attributes, index, CRS, encoding).
SHAPEFILE_SIDECARS: tuple[str, ...] = (".dbf", ".shx", ".prj", ".cpg")
#: Sidecars of other single-file formats that change their meaning.
_OTHER_SIDECARS: dict[str, tuple[str, ...]] = {
    ".tif": (".tfw", ".prj", ".aux.xml"),
    ".tiff": (".tfw", ".prj", ".aux.xml"),
    ".csv": (".csvt", ".prj"),
    ".mif": (".mid",),
    ".tab": (".dat", ".map", ".id"),
}
#: Python distributions whose versions are recorded (those installed).
LIBRARIES: tuple[str, ...] = (
    "geopandas",
    "shapely",
    "pyproj",
    "pyogrio",
    "fiona",
    "rasterio",
    "networkx",
    "numpy",
    "pandas",
    "scipy",
    "numba",
    "folium",
    "matplotlib",
    "mapclassify",
    "openpyxl",
    "xlsxwriter",
    "jinja2",
    "weasyprint",
    "ezdxf",
    "osmium",
    "psycopg",
    "pyyaml",
    "charset-normalizer",
    "click",
    "tqdm",
    "dask",
    "distributed",
)


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks (large files never sit in memory whole)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _folder_sha256(folder: Path) -> str:
    """SHA-256 over a folder's files: each relative name (POSIX) and its own digest, sorted.

    Lock files (``*.lock``, written by ArcGIS while a FileGDB is open) are left out: they do
    not change the data.
    """
    h = hashlib.sha256()
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and not p.name.lower().endswith(".lock")
    )
    for p in files:
        h.update(p.relative_to(folder).as_posix().encode("utf-8"))
        h.update(b"\0")
        h.update(file_sha256(p).encode("ascii"))
        h.update(b"\n")
    return h.hexdigest()


def _entry(path: Path) -> dict[str, Any]:
    digest = _folder_sha256(path) if path.is_dir() else file_sha256(path)
    return {"path": str(path), "sha256": digest}


def _hide_password(url: str) -> str:
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1@", url)


def _sidecars(path: Path) -> dict[str, Path]:
    """The sidecar files beside ``path`` that exist, keyed by their extension (no dot)."""
    suffix = path.suffix.lower()
    wanted = SHAPEFILE_SIDECARS if suffix == ".shp" else _OTHER_SIDECARS.get(suffix, ())
    if not wanted or not path.parent.is_dir():
        return {}
    # match case-insensitively: deliveries mix ROADS.SHP with roads.dbf
    by_lower = {p.name.lower(): p for p in path.parent.iterdir() if p.is_file()}
    found = {}
    for ext in wanted:
        for name in (path.stem + ext, path.name + ext):  # x.dbf, and x.tif.aux.xml style
            p = by_lower.get(name.lower())
            if p is not None and p != path:
                found[ext.lstrip(".")] = p
                break
    return found


def input_files(config: PilotConfig) -> dict[str, dict[str, Any]]:
    """Every input of a pilot with its SHA-256.

    Parameters
    ----------
    config
        The pilot configuration (:func:`fiveplans.read_config`).

    Returns
    -------
    dict
        Key → ``{"path": str, "sha256": str | None}``. Keys are the layer keys (``land_use``),
        ``KEY.EXT`` for sidecars (``cluster.dbf``), ``KEY.control_points`` and ``ledger``. A
        folder (FileGDB) is hashed over its files; a PostGIS source has its URL without the
        password as ``path`` and ``sha256`` None.
    """
    out: dict[str, dict[str, Any]] = {}
    for key, src in config.sources.items():
        if src.url is not None:
            table = ",".join(src.layer)
            out[key] = {
                "path": f"{_hide_password(src.url)}{' ' + table if table else ''}",
                "sha256": None,
            }
            continue
        if src.path is None:
            continue
        out[key] = _entry(src.path)
        if src.path.is_file():
            for ext, side in _sidecars(src.path).items():
                out[f"{key}.{ext}"] = _entry(side)
        if src.control_points is not None:
            out[f"{key}.control_points"] = _entry(src.control_points)
    ledger = getattr(config, "ledger", None)
    if ledger is not None and Path(ledger).exists():
        out["ledger"] = _entry(Path(ledger))
    # file references among option values (e.g. a code table given as a CSV path)
    for section, options in _option_files(config).items():
        out[section] = _entry(options)
    return out


def _option_files(config: PilotConfig) -> dict[str, Path]:
    """Files named by string values of ``codes:`` and the option sections that exist."""
    found: dict[str, Path] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(f"{prefix}.{k}", v)
        elif isinstance(value, str) and 0 < len(value) < 4096 and ("/" in value or "." in value):
            try:
                p = (config.folder / value).resolve()
                if p.is_file():
                    found[prefix] = p
            except OSError:
                pass

    walk("codes", config.codes)
    for key, src in config.sources.items():
        walk(f"{key}.codes", src.codes)
    for section, options in config.options.items():
        walk(section, options)
    return found


def config_sha256(config: PilotConfig) -> str:
    """SHA-256 of the pilot YAML file as stored (``sha256sum pilot.yml`` gives the same)."""
    return file_sha256(config.path)


def library_versions() -> dict[str, str]:
    """Versions of the libraries a result depends on, including the C libraries GDAL/GEOS/PROJ."""
    out: dict[str, str] = {}
    for name in LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    try:
        import pyogrio

        out["GDAL"] = str(pyogrio.__gdal_version_string__)
    except Exception:  # pragma: no cover - pyogrio is a dependency
        log.debug("no GDAL version", exc_info=True)
    try:
        import shapely

        out["GEOS"] = str(shapely.geos_version_string)
    except Exception:  # pragma: no cover
        log.debug("no GEOS version", exc_info=True)
    try:
        import pyproj

        out["PROJ"] = str(pyproj.proj_version_str)
    except Exception:  # pragma: no cover
        log.debug("no PROJ version", exc_info=True)
    return out


def provenance(config: PilotConfig, *, started: datetime, seconds: float) -> dict[str, Any]:
    """The ``provenance`` block of ``summary.json`` (CONTRACT §5).

    Parameters
    ----------
    config
        The pilot configuration.
    started
        When the run started; a naive datetime is taken as local time.
    seconds
        The run's duration in seconds.

    Returns
    -------
    dict
        ``fiveplans``, ``python``, ``libraries``, ``config_sha256``, ``inputs``,
        ``started`` (ISO 8601 with the UTC offset) and ``seconds``.
    """
    from fiveplans import __version__

    if started.tzinfo is None:
        started = started.astimezone()
    return {
        "fiveplans": __version__,
        "python": platform.python_version(),
        "libraries": library_versions(),
        "config_sha256": config_sha256(config),
        "inputs": input_files(config),
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(float(seconds), 3),
    }
