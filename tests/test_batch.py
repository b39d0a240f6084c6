"""``fiveplans batch``: many pilots, failures recorded, resume by hashes, kill-safe, Dask."""

from __future__ import annotations

import contextlib
import html.parser
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import pytest
import yaml
from openpyxl import load_workbook
from tinypilot import write_tiny_pilot

from fiveplans.batch import CORE_OUTPUTS, STAGING, _publish, check_resume, run_batch
from fiveplans.config import read_config
from fiveplans.provenance import config_sha256

FIVEPLANS = str(Path(sys.executable).with_name("fiveplans"))


def _pilot(folder: Path, pid: str, *, name: str | None = None, dx: float = 0.0) -> Path:
    """A tiny pilot with its own id (and, with ``dx``, its own place)."""
    yml = write_tiny_pilot(folder, id=pid, name=name or f"试点 {pid}")
    if dx:
        for f in ("boundary.gpkg", "tugui.gpkg", "cluster.gpkg"):
            gdf = gpd.read_file(folder / f)
            gdf.geometry = gdf.geometry.translate(dx, 0)
            layer = {"boundary.gpkg": "boundary", "tugui.gpkg": "TDYTQ", "cluster.gpkg": "YDGH"}[f]
            (folder / f).unlink()
            gdf.to_file(folder / f, layer=layer)
    return yml


def _corrupt(folder: Path) -> Path:
    yml = _pilot(folder, "broken", name="损坏的试点")
    (folder / "cluster.gpkg").write_bytes(b"SQLite format 3\x00" + b"\x17" * 2000)
    return yml


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.rows: list[tuple[str, list[str]]] = []
        self._row: list[str] | None = None
        self._cls = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "tr":
            self._row, self._cls = [], dict(attrs).get("class") or ""
        elif tag == "td" and self._row is not None:
            self._row.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._row:
            self.rows.append((self._cls, self._row))
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._row:
            self._row[-1] += data


def _index(out: Path) -> _Tags:
    text = (out / "index.html").read_text(encoding="utf-8")
    assert text.rstrip().endswith("</html>")
    parser = _Tags()
    parser.feed(text)
    return parser


def _complete_or_absent(out: Path, pid: str) -> bool:
    """A reader's check: a pilot folder with summary.json holds every output of that run."""
    folder = out / pid
    if not (folder / "summary.json").exists():
        return False
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert all((folder / n).is_file() for n in CORE_OUTPUTS), sorted(os.listdir(folder))
    assert summary["pilot"] == pid
    return True


def test_a_corrupt_pilot_fails_alone_and_is_listed_in_red(tmp_path: Path) -> None:
    a = _pilot(tmp_path / "a", "alpha")
    b = _pilot(tmp_path / "b", "beta", dx=3000)
    bad = _corrupt(tmp_path / "bad")
    out = tmp_path / "out"
    proc = subprocess.run(
        [FIVEPLANS, "batch", str(a), str(bad), str(b), "--out", str(out), "--jobs", "2", "-q"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1, proc.stderr
    assert "FAIL broken" in proc.stderr and "cluster.gpkg" in proc.stderr
    assert "2 完成 ok, 1 失败 failed" in proc.stderr
    for pid in ("alpha", "beta"):
        assert _complete_or_absent(out, pid)
    assert not (out / "broken" / "summary.json").exists()
    assert not (out / STAGING).exists()
    page = _index(out)
    rows = {cells[0]: (cls, cells) for cls, cells in page.rows}
    assert rows["broken"][0] == "fail" and "cluster.gpkg" in rows["broken"][1][-1]
    assert rows["alpha"][0] == "ok"
    # key figures equal summary.json
    summary = json.loads((out / "alpha" / "summary.json").read_text(encoding="utf-8"))
    assert rows["alpha"][1][3] == f"{summary['boundary_area_m2'] / 1e6:,.2f}"
    farm = summary["conflicts"]["farmland_construction"]
    assert rows["alpha"][1][5] == f"{farm['area_m2'] / 1e4:,.2f} ({farm['count']})"
    # the overview map: both good boundaries, coloured; 25 ha of 100 ha in conflict
    svg = (out / "index.html").read_text(encoding="utf-8").split("<svg", 1)[1].split("</svg>")[0]
    assert svg.count("<path") == 2 and "conflict share 25.0%" in svg
    # summary.xlsx: one row per pilot (after the two header rows), figures equal summary.json
    ws = load_workbook(out / "summary.xlsx").active
    values = list(ws.iter_rows(min_row=3, values_only=True))
    assert [v[0] for v in values] == ["alpha", "broken", "beta"]
    assert values[0][3] == pytest.approx(summary["boundary_area_m2"] / 1e6)
    assert values[0][4] == pytest.approx(0.25)
    assert values[0][5] == pytest.approx(farm["area_m2"] / 1e4)
    assert "失败" in values[1][2]


def test_names_and_messages_are_escaped(tmp_path: Path) -> None:
    evil = "<img src=x onerror=alert(1)>"
    good = _pilot(tmp_path / "a", "evil", name=evil)
    bad = _pilot(tmp_path / "b", "bad", name="<script>alert(2)</script>")
    (tmp_path / "b" / "tugui.gpkg").write_bytes(b"<script>alert(3)</script>")
    out = tmp_path / "out"
    result = run_batch([good, bad], out=out)
    assert [r.status for r in result.rows] == ["ok", "failed"]
    page = _index(out)
    assert "img" not in page.tags and "script" not in page.tags
    text = (out / "index.html").read_text(encoding="utf-8")
    assert "&lt;img src=x onerror=alert(1)&gt;" in text
    names = [cells[1] for _, cells in page.rows]
    assert evil in names  # shown as text


def test_duplicate_ids_are_refused_without_running(tmp_path: Path) -> None:
    a = _pilot(tmp_path / "a", "same")
    b = _pilot(tmp_path / "b", "same")
    result = run_batch([a, b], out=tmp_path / "out")
    assert [r.status for r in result.rows] == ["failed", "failed"]
    assert "unique `id:`" in result.rows[0].message
    assert not (tmp_path / "out" / "same").exists()


def test_resume_skips_unchanged_and_reruns_what_changed(tmp_path: Path) -> None:
    a = _pilot(tmp_path / "a", "alpha")
    b = _pilot(tmp_path / "b", "beta", dx=3000)
    c = _pilot(tmp_path / "c", "gamma", dx=6000)
    out = tmp_path / "out"
    first = run_batch([a, b, c], out=out)
    assert [r.status for r in first.rows] == ["ok"] * 3
    again = run_batch([a, b, c], out=out, resume=True)
    assert [r.status for r in again.rows] == ["skipped"] * 3
    assert again.rows[0].summary == first.rows[0].summary

    # an input file changes (same name, one attribute edited) → rerun that pilot only
    gdf = gpd.read_file(tmp_path / "b" / "cluster.gpkg")
    gdf.loc[0, "YDMC"] = "二类工业用地"
    (tmp_path / "b" / "cluster.gpkg").unlink()
    gdf.to_file(tmp_path / "b" / "cluster.gpkg", layer="YDGH")
    # the config changes → rerun
    doc = yaml.safe_load(c.read_text(encoding="utf-8"))
    doc["thresholds"] = {"sliver_m2": 100}
    c.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    fresh, reason, _ = check_resume(read_config(b), out / "beta")
    assert not fresh and reason == "inputs changed (cluster)"
    third = run_batch([a, b, c], out=out, resume=True)
    assert [r.status for r in third.rows] == ["skipped", "ok", "ok"]
    prov = json.loads((out / "gamma" / "summary.json").read_text(encoding="utf-8"))["provenance"]
    assert prov["config_sha256"] == config_sha256(read_config(c))

    # an output removed → rerun; nothing changed → all skipped
    (out / "alpha" / "tables.xlsx").unlink()
    fourth = run_batch([a, b, c], out=out, resume=True)
    assert [r.status for r in fourth.rows] == ["ok", "skipped", "skipped"]
    assert "unchanged" in fourth.rows[1].message


def test_publishing_killed_midway_is_never_trusted(tmp_path: Path, monkeypatch) -> None:
    a = _pilot(tmp_path / "a", "alpha")
    out = tmp_path / "out"
    run_batch([a], out=out)
    staged = tmp_path / "staged"
    shutil.copytree(out / "alpha", staged)
    real = os.replace
    calls = []

    def dies_on_second(src: str | Path, dst: str | Path) -> None:
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed between two renames
        real(src, dst)

    monkeypatch.setattr(os, "replace", dies_on_second)
    with pytest.raises(KeyboardInterrupt):
        _publish(staged, out / "alpha")
    monkeypatch.setattr(os, "replace", real)
    assert not (out / "alpha" / "summary.json").exists()
    fresh, reason, _ = check_resume(read_config(a), out / "alpha")
    assert not fresh and reason == "no complete outputs yet"
    assert [r.status for r in run_batch([a], out=out, resume=True).rows] == ["ok"]


def test_a_signal_while_a_pilot_starts_stops_the_batch(tmp_path: Path, monkeypatch) -> None:
    """SIGTERM landing while the next pilot reads its config (CI hit this race): the batch stops
    there — it is not recorded as that pilot's failure with the others run on."""
    import fiveplans.config as config_module
    from fiveplans.batch import BatchInterrupted
    from fiveplans.errors import FiveplansError

    assert not issubclass(BatchInterrupted, Exception)  # no `except Exception` can swallow it
    pilots = [_pilot(tmp_path / f"p{i}", f"p{i}", dx=2000 * i) for i in range(3)]
    out = tmp_path / "out"
    real = config_module.read_config
    calls: list[str] = []

    def read(path, *args, **kwargs):
        calls.append(str(path))
        if len(calls) == 5:  # three by the batch, then p0's run, then p1's: the signal lands
            try:
                raise BatchInterrupted(signal.SIGTERM)
            except FiveplansError:  # what a stage tolerating bad input does
                pass
        return real(path, *args, **kwargs)

    monkeypatch.setattr(config_module, "read_config", read)
    with pytest.raises(BatchInterrupted, match="--resume"):
        run_batch(pilots, out=out)
    status = {cells[0]: cells[2] for _, cells in _index(out).rows}
    assert status["p0"].startswith("完成")
    assert status["p1"].startswith("中断") and status["p2"].startswith("中断")
    assert not (out / "p2").exists()


def test_a_signal_after_a_pilot_is_written_counts_it_finished(tmp_path: Path, monkeypatch) -> None:
    """SIGTERM landing after a pilot's outputs were moved into place but before its worker's
    answer reached the batch (CI hit this race with --jobs 2): the pilot is finished (完成) in
    index.html, not interrupted; the pilots not run are interrupted."""
    import fiveplans.batch as batch_module
    from fiveplans.batch import BatchInterrupted

    pilots = [_pilot(tmp_path / f"p{i}", f"p{i}", dx=2000 * i) for i in range(3)]
    out = tmp_path / "out"
    real = batch_module._run_one

    def run_one(task, *args, **kwargs):
        real(task, *args, **kwargs)  # written and moved into place; the answer is lost
        raise BatchInterrupted(signal.SIGTERM)

    monkeypatch.setattr(batch_module, "_run_one", run_one)
    with pytest.raises(BatchInterrupted, match="--resume"):
        run_batch(pilots, out=out)
    status = {cells[0]: cells[2] for _, cells in _index(out).rows}
    assert status["p0"].startswith("完成")
    assert status["p1"].startswith("中断") and status["p2"].startswith("中断")
    # a complete output of an earlier batch is not taken for this batch's work

    def stopped(task, *args, **kwargs):
        raise BatchInterrupted(signal.SIGTERM)

    os.utime(out / "p0" / "summary.json", (1e9, 1e9))
    monkeypatch.setattr(batch_module, "_run_one", stopped)
    with pytest.raises(BatchInterrupted):
        run_batch(pilots, out=out)
    status = {cells[0]: cells[2] for _, cells in _index(out).rows}
    assert status["p0"].startswith("中断")


@pytest.mark.parametrize("jobs", [1, 2])
def test_resume_after_sigterm(tmp_path: Path, jobs: int) -> None:
    pilots = [_pilot(tmp_path / f"p{i}", f"p{i}", dx=2000 * i) for i in range(6)]
    out = tmp_path / "out"
    cmd = [FIVEPLANS, "batch", *map(str, pilots), "--out", str(out), "--jobs", str(jobs), "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "p0" / "summary.json").exists() and proc.poll() is None:
        assert time.monotonic() < deadline, "the first pilot never finished"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "SIGTERM" in err and "--resume" in err
    done = [f"p{i}" for i in range(6) if _complete_or_absent(out, f"p{i}")]
    assert "p0" in done and len(done) < 6, "the batch was not stopped mid-run"
    page = _index(out)  # rewritten atomically with what finished
    status = {cells[0]: cells[2] for _, cells in page.rows}
    assert status["p0"].startswith("完成") and any(s.startswith("中断") for s in status.values())
    # no worker left running: the folder stays as it is
    time.sleep(1.0)
    assert [f"p{i}" for i in range(6) if (out / f"p{i}" / "summary.json").exists()] == done

    resumed = subprocess.run([*cmd, "--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    for pid in done:
        assert f"skip {pid}: unchanged" in resumed.stderr
    assert all(_complete_or_absent(out, f"p{i}") for i in range(6))
    assert not (out / STAGING).exists()


@pytest.fixture(scope="module")
def dask_scheduler(tmp_path_factory: pytest.TempPathFactory):
    """A real scheduler and two workers (separate processes) on 127.0.0.1."""
    pytest.importorskip("distributed")
    folder = tmp_path_factory.mktemp("dask")
    sched_file = folder / "scheduler.json"
    bindir = Path(sys.executable).parent
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    logs = contextlib.ExitStack()
    procs = [
        subprocess.Popen(
            [
                str(bindir / "dask"),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(sched_file),
            ],
            stdout=subprocess.DEVNULL,
            stderr=logs.enter_context(open(folder / "scheduler.log", "w")),  # noqa: SIM115
            env=env,
        )
    ]
    deadline = time.monotonic() + 60
    while not sched_file.exists():
        assert time.monotonic() < deadline, (folder / "scheduler.log").read_text()
        time.sleep(0.1)
    for i in range(2):
        procs.append(
            subprocess.Popen(
                [
                    str(bindir / "dask"),
                    "worker",
                    "--scheduler-file",
                    str(sched_file),
                    "--nworkers",
                    "1",
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                    "--host",
                    "127.0.0.1",
                    "--name",
                    f"w{i}",
                    "--local-directory",
                    str(folder / f"w{i}"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=logs.enter_context(open(folder / f"worker{i}.log", "w")),  # noqa: SIM115
                env=env,
            )
        )
    address = json.loads(sched_file.read_text())["address"]
    from distributed import Client

    with Client(address, timeout="30s") as client:
        client.wait_for_workers(2, timeout=90)
    yield address
    for p in procs[::-1]:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
    logs.close()


def test_batch_on_a_dask_cluster(tmp_path: Path, dask_scheduler: str) -> None:
    a = _pilot(tmp_path / "a", "alpha")
    b = _pilot(tmp_path / "b", "beta", dx=3000)
    bad = _corrupt(tmp_path / "bad")
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            FIVEPLANS,
            "batch",
            str(a),
            str(b),
            str(bad),
            "--out",
            str(out),
            "--scheduler",
            dask_scheduler,
            "-q",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1, proc.stderr
    assert "FAIL broken" in proc.stderr
    for pid in ("alpha", "beta"):
        assert _complete_or_absent(out, pid)
    # the same figures as a run on this machine
    local = run_batch([a], out=tmp_path / "local")
    dask_sum = json.loads((out / "alpha" / "summary.json").read_text(encoding="utf-8"))
    assert dask_sum["conflicts"] == local.rows[0].summary["conflicts"]
    assert dask_sum["zones"] == local.rows[0].summary["zones"]
    page = _index(out)
    assert {cells[0]: cls for cls, cells in page.rows}["broken"] == "fail"
    # resume through the cluster: nothing to do for the good ones, the broken one retried
    again = run_batch([a, b, bad], out=out, resume=True, scheduler=dask_scheduler)
    assert [r.status for r in again.rows] == ["skipped", "skipped", "failed"]


def test_dask_tasks_ran_on_the_workers(tmp_path: Path, dask_scheduler: str) -> None:
    """The Dask backend submits to the cluster (checked by the scheduler's task log)."""
    from distributed import Client

    a = _pilot(tmp_path / "a", "alpha")
    run_batch([a], out=tmp_path / "out", scheduler=dask_scheduler)
    with Client(dask_scheduler, timeout="30s") as client:
        keys = client.run_on_scheduler(
            lambda dask_scheduler: [str(k) for k in getattr(dask_scheduler, "transition_log", [])][
                -2000:
            ]
        )
    assert any("fiveplans-0-" in k for k in keys)


def test_a_second_batch_into_the_same_folder_is_refused(tmp_path: Path) -> None:
    import fcntl

    from fiveplans.errors import ConfigError

    a = _pilot(tmp_path / "a", "alpha")
    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".batch.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(ConfigError, match="another batch"):
            run_batch([a], out=out)
    assert not (out / "alpha").exists()


def test_database_inputs_are_never_taken_as_unchanged(tmp_path: Path) -> None:
    from fiveplans import __version__
    from fiveplans.provenance import input_files

    yml = write_tiny_pilot(
        tmp_path,
        id="db",
        current={
            "path": "postgresql://planner:pw@db.example/henan",
            "layer": "public.dltb",
            "field": "DLBM",
            "scheme": "gbt21010",
        },
    )
    config = read_config(yml)
    folder = tmp_path / "out" / "db"
    folder.mkdir(parents=True)
    for name in CORE_OUTPUTS:
        (folder / name).write_bytes(b"x")
    prov = {
        "fiveplans": __version__,
        "config_sha256": config_sha256(config),
        "inputs": input_files(config),
    }
    summary = {"pilot": "db", "not_yet_available": {"maps": "…"}, "provenance": prov}
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    fresh, reason, _ = check_resume(config, folder)
    assert not fresh and reason == "database inputs cannot be hashed (current)"
