"""Batch runs over many pilots (五规合一 试点批量): ``fiveplans batch``.

Each pilot runs into ``OUT/<id>/``; one failing pilot does not stop the others. The batch writes
``OUT/index.html`` (a page linking every pilot's outputs) and ``OUT/summary.xlsx`` (one row per
pilot), both atomically.
"""

from __future__ import annotations

import html
import json
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fiveplans.errors import FiveplansError
from fiveplans.io import atomic_path

__all__ = ["BatchResult", "BatchRow", "run_batch"]

log = logging.getLogger(__name__)


@dataclass
class BatchRow:
    """The outcome of one pilot."""

    path: str
    pilot_id: str | None
    name: str | None
    status: str  # ok, failed, skipped
    message: str
    summary: dict[str, object] = field(default_factory=dict)


@dataclass
class BatchResult:
    """All pilots' outcomes."""

    rows: list[BatchRow]

    @property
    def n_ok(self) -> int:
        return sum(r.status == "ok" for r in self.rows)

    @property
    def n_failed(self) -> int:
        return sum(r.status == "failed" for r in self.rows)

    @property
    def n_skipped(self) -> int:
        return sum(r.status == "skipped" for r in self.rows)


def _one(path: str, out: str, resume: bool, verbose: bool) -> BatchRow:
    import warnings

    from fiveplans.config import read_config
    from fiveplans.pipeline import run

    warnings.simplefilter("ignore")
    try:
        config = read_config(path)
    except FiveplansError as exc:
        return BatchRow(path, None, None, "failed", str(exc))
    outdir = Path(out) / config.id
    done = outdir / "summary.json"
    if resume and done.exists():
        summary = json.loads(done.read_text(encoding="utf-8"))
        return BatchRow(
            path, config.id, config.name, "skipped", "already complete (--resume)", summary
        )
    try:
        run(config.path, out=outdir, overwrite=True, verbose=verbose)
    except FiveplansError as exc:
        return BatchRow(path, config.id, config.name, "failed", str(exc))
    except Exception as exc:  # one broken pilot must not stop the batch
        log.debug("pilot %s failed", path, exc_info=True)
        return BatchRow(
            path, config.id, config.name, "failed", f"internal error: {type(exc).__name__}: {exc}"
        )
    summary = json.loads(done.read_text(encoding="utf-8"))
    return BatchRow(path, config.id, config.name, "ok", f"→ {outdir}", summary)


def run_batch(
    pilots: list[str | os.PathLike[str]],
    *,
    out: str | os.PathLike[str] = "out",
    jobs: int = 1,
    resume: bool = False,
    verbose: bool = False,
) -> BatchResult:
    """Run several pilots; never stop at the first failure.

    Parameters
    ----------
    pilots
        Pilot YAML files.
    out
        The batch folder; each pilot goes to ``out/<id>/``.
    jobs
        Pilots run in parallel processes.
    resume
        Skip pilots whose ``summary.json`` already exists.
    verbose
        Progress bars (only with ``jobs=1``).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [str(Path(p).resolve()) for p in pilots]
    if jobs > 1 and len(paths) > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            rows = list(
                pool.map(
                    _one,
                    paths,
                    [str(out)] * len(paths),
                    [resume] * len(paths),
                    [False] * len(paths),
                )
            )
    else:
        rows = [_one(p, str(out), resume, verbose) for p in paths]
    ids = [r.pilot_id for r in rows if r.pilot_id]
    dupes = {i for i in ids if ids.count(i) > 1}
    for r in rows:
        if r.pilot_id in dupes and r.status == "ok":
            r.status, r.message = (
                "failed",
                f"id '{r.pilot_id}' is used by several pilots; their outputs overwrote each other. Fix: give each pilot a unique `id:`.",
            )
    result = BatchResult(rows)
    _write_summary(result, out / "summary.xlsx")
    _write_index(result, out / "index.html")
    return result


def _flat(row: BatchRow) -> dict[str, object]:
    s = row.summary
    return {
        "pilot 试点": row.pilot_id,
        "name 名称": row.name,
        "status 状态": row.status,
        "message 说明": row.message,
        "crs 坐标系": s.get("crs"),
        "boundary_km2 规划范围(km²)": round(float(s["boundary_area_m2"]) / 1e6, 4)
        if s.get("boundary_area_m2")
        else None,
        "warnings 警告数": len(s.get("warnings", [])) if s else None,
        "file 配置文件": row.path,
    }


def _write_summary(result: BatchResult, path: Path) -> None:
    with atomic_path(path) as tmp:
        pd.DataFrame([_flat(r) for r in result.rows]).to_excel(
            tmp, index=False, sheet_name="试点汇总 Pilots", engine="openpyxl"
        )


def _write_index(result: BatchResult, path: Path) -> None:
    rows = []
    for r in result.rows:
        f = _flat(r)
        link = (
            f'<a href="{html.escape(r.pilot_id)}/summary.json">{html.escape(str(r.pilot_id))}</a>'
            if r.pilot_id and r.status != "failed"
            else html.escape(str(r.pilot_id or "—"))
        )
        cls = {"ok": "ok", "skipped": "ok", "failed": "fail"}[r.status]
        rows.append(
            f"<tr class='{cls}'><td>{link}</td><td>{html.escape(str(r.name or ''))}</td>"
            f"<td>{html.escape(r.status)}</td><td>{f['boundary_km2 规划范围(km²)'] or ''}</td>"
            f"<td>{f['warnings 警告数'] if f['warnings 警告数'] is not None else ''}</td>"
            f"<td>{html.escape(r.message)}</td></tr>"
        )
    page = f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>五规合一试点 Five-plans pilots</title>
<style>body{{font-family:"Noto Sans CJK SC",sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}tr.fail{{background:#fdd}}</style></head>
<body><h1>五规合一试点汇总 Five-plans-into-one pilots</h1>
<p>{result.n_ok} 成功 ok · {result.n_failed} 失败 failed · {result.n_skipped} 跳过 skipped</p>
<table><tr><th>试点 Pilot</th><th>名称 Name</th><th>状态 Status</th><th>规划范围 km²</th><th>警告 Warnings</th><th>说明 Message</th></tr>
{"".join(rows)}
</table></body></html>
"""
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
