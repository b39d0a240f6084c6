"""File input/output helpers: text-encoding detection and atomic writes.

Planning deliveries mix UTF-8 and GBK/GB18030 (Shapefiles without ``.cpg``, CSV from Excel).
GDAL decodes an unmarked DBF as ISO-8859-1 and silently garbles Chinese, so the bytes are read
and the encoding decided here, then given to the reader explicitly.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fiveplans.errors import DataError

__all__ = [
    "EncodingGuess",
    "atomic_dir",
    "atomic_path",
    "check_shapefile_complete",
    "dbf_text_sample",
    "detect_encoding",
    "detect_shapefile_encoding",
]

log = logging.getLogger(__name__)

_CPG_ALIASES = {
    "utf-8": "UTF-8",
    "utf8": "UTF-8",
    "65001": "UTF-8",
    "gbk": "GBK",
    "936": "GBK",
    "cp936": "GBK",
    "ansi_936": "GBK",
    "gb2312": "GBK",
    "gb18030": "GB18030",
    "54936": "GB18030",
    "big5": "BIG5",
    "950": "BIG5",
    "iso-8859-1": "ISO-8859-1",
    "88591": "ISO-8859-1",
    "latin1": "ISO-8859-1",
    "1252": "CP1252",
    "cp1252": "CP1252",
}


@dataclass(frozen=True)
class EncodingGuess:
    """The encoding chosen for a text source and why."""

    encoding: str
    reason: str


_ASCII = "纯 ASCII 文本 plain ASCII text"


def detect_encoding(data: bytes, *, where: str = "") -> EncodingGuess:
    """Decide the encoding of Chinese-planning text bytes.

    Pure ASCII and valid UTF-8 are UTF-8; otherwise bytes that decode as GB18030 (the superset of
    GBK and GB2312) are GBK-family; as a last resort charset-normalizer decides.

    Parameters
    ----------
    data
        A sample of the text bytes (field values, CSV content).
    where
        Prefix for the error message.

    Raises
    ------
    DataError
        When no encoding decodes the bytes.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return EncodingGuess("UTF-8-SIG", "UTF-8 字节序标记 UTF-8 byte-order mark")
    try:
        data.decode("ascii")
        return EncodingGuess("UTF-8", _ASCII)
    except UnicodeDecodeError:
        pass
    try:
        data.decode("utf-8")
        return EncodingGuess("UTF-8", "字节为有效 UTF-8 the bytes are valid UTF-8")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
        encoding = "GBK"
        try:
            data.decode("gbk")
        except UnicodeDecodeError:
            encoding = "GB18030"
        cjk = sum("\u4e00" <= ch <= "\u9fff" for ch in text)
        return EncodingGuess(
            encoding,
            f"非 UTF-8，按 {encoding} 解码 not UTF-8; decodes as {encoding} "
            f"({cjk} Chinese characters in the sample)",
        )
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise DataError(
            f"{where}: 无法识别文字编码 — the text is in no encoding fiveplans can recognise (not "
            "UTF-8, not GBK). 解决 Fix: re-export the file as UTF-8, or set `encoding:` for this source."
        )
    return EncodingGuess(
        best.encoding.upper(),
        f"由 charset-normalizer 检测 detected by charset-normalizer as {best.encoding}",
    )


def dbf_text_sample(dbf: Path, *, max_records: int = 5000) -> bytes:
    """The raw bytes of the character fields of the first ``max_records`` records of a DBF."""
    with open(dbf, "rb") as fh:
        head = fh.read(32)
        if len(head) < 32:
            raise DataError(
                f"{dbf}: 不是 dBASE 属性文件 — not a dBASE file (too short). 解决 Fix: re-export "
                "the Shapefile."
            )
        n_records, header_len, record_len = struct.unpack("<IHH", head[4:12])
        fields = []
        offset = 1  # deletion flag
        while True:
            desc = fh.read(32)
            if not desc or desc[0] == 0x0D or len(desc) < 32:
                break
            ftype = chr(desc[11])
            flen = desc[16]
            if ftype in "CM":
                fields.append((offset, flen))
            offset += flen
        if not fields:
            return b""
        fh.seek(header_len)
        out = bytearray()
        for _ in range(min(n_records, max_records)):
            rec = fh.read(record_len)
            if len(rec) < record_len:
                break
            for start, length in fields:
                out += rec[start : start + length].rstrip(b" \x00") + b" "
        return bytes(out)


def check_shapefile_complete(shp: Path) -> None:
    """Refuse a Shapefile whose .shp or .dbf is shorter than its header says (a truncated copy).

    GDAL reads such files without an error and returns the missing records with no geometry,
    which would silently shrink every area computed from them.
    """
    size = shp.stat().st_size
    with open(shp, "rb") as fh:
        head = fh.read(100)
    if len(head) < 100 or struct.unpack(">i", head[0:4])[0] != 9994:
        raise DataError(
            f"{shp}: 不是 Shapefile 主文件 — not a Shapefile main file (bad header). 解决 Fix: "
            "re-export the Shapefile."
        )
    declared = struct.unpack(">i", head[24:28])[0] * 2
    if size < declared:
        raise DataError(
            f"{shp}: 文件被截断 truncated — the header says {declared:,} bytes but the file has {size:,} "
            "(an interrupted copy or download). 解决 Fix: copy the complete .shp again from the "
            "delivery."
        )
    dbf = next((p for p in (shp.with_suffix(".dbf"), shp.with_suffix(".DBF")) if p.exists()), None)
    if dbf is not None:
        with open(dbf, "rb") as fh:
            dhead = fh.read(12)
        if len(dhead) == 12:
            n_records, header_len, record_len = struct.unpack("<IHH", dhead[4:12])
            expected = header_len + n_records * record_len
            if dbf.stat().st_size < expected:
                raise DataError(
                    f"{dbf}: 文件被截断 truncated — {n_records:,} records need {expected:,} bytes but the "
                    f"file has {dbf.stat().st_size:,}. 解决 Fix: copy the complete .dbf again."
                )


def detect_shapefile_encoding(shp: Path, *, declared: str | None = None) -> EncodingGuess:
    """Choose the encoding of a Shapefile's DBF from its bytes, checking any ``.cpg``.

    A declared encoding (the config's ``encoding:``) wins. A ``.cpg`` that contradicts the bytes
    (says UTF-8 over GBK bytes, a common export bug) is overruled and the reason says so.
    """
    if declared:
        return EncodingGuess(declared, "配置指定 declared in the pilot config")
    dbf = shp.with_suffix(".dbf")
    if not dbf.exists():
        dbf = shp.with_suffix(".DBF")
    if not dbf.exists():
        raise DataError(
            f"{shp}: 缺少属性文件 — the attribute file {shp.with_suffix('.dbf').name} is missing. "
            "解决 Fix: deliver the .shp together with its .dbf and .shx."
        )
    sample = dbf_text_sample(dbf)
    guess = detect_encoding(sample, where=str(shp))
    cpg = next((p for p in (shp.with_suffix(".cpg"), shp.with_suffix(".CPG")) if p.exists()), None)
    if cpg is None:
        # The DBF header's language driver id (byte 29) is often 0x4D (936 = GBK) in Chinese exports.
        return EncodingGuess(guess.encoding, f"无 .cpg 文件 no .cpg file; {guess.reason}")
    said = cpg.read_text(encoding="ascii", errors="replace").strip()
    said_norm = _CPG_ALIASES.get(said.lower().replace(" ", ""), said.upper())
    if said_norm == guess.encoding or guess.reason == _ASCII:
        return EncodingGuess(
            said_norm, f".cpg 声明 {said}，与字节一致 .cpg says {said}; the bytes agree"
        )
    try:
        sample.decode(said_norm)
        return EncodingGuess(
            said_norm, f".cpg 声明 {said}，可解码 .cpg says {said}; the bytes decode with it"
        )
    except (UnicodeDecodeError, LookupError):
        return EncodingGuess(
            guess.encoding,
            f".cpg 声明 {said} 与字节不符，改用 {guess.encoding} — "
            f".cpg says {said} but the bytes do not decode as {said_norm}: used {guess.encoding} "
            f"({guess.reason})",
        )


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; on success rename it to ``dest``.

    On an exception the temporary file is removed and ``dest`` is left as it was, so a reader
    never sees a half-written output.
    """
    dest = Path(dest)
    if dest.exists() and not overwrite:
        raise FileExistsError(
            f"{dest}: 成果已存在 — exists. 解决 Fix: pass --overwrite or choose another --out."
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=dest.suffix, dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # let writers create it (GDAL refuses some existing empty files)
    try:
        yield tmp
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink()


@contextlib.contextmanager
def atomic_dir(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder beside ``dest``; on success it replaces ``dest`` whole."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        yield tmp
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old.", dir=dest.parent))
            os.replace(dest, old / dest.name)
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
