"""The CSV half of the reader: encoding and delimiter sniffing, then pyarrow or pandas.

Every record is read as text (no NA parsing) with blank lines kept, so frame row i is
spreadsheet row i; read.py finds the header and drops blank rows. A UTF-8 file whose records
all have the same number of cells (nearly every export) is parsed by pyarrow's multi-threaded
reader into Arrow-backed text columns; anything else pyarrow refuses (ragged rows, an unclosed
quote, a cell longer than a block, Windows-1252 or UTF-16 text) goes through pandas' C engine,
which reads it as before, so the two paths give the same frame.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from importer.columns import field_for_header
from importer.errors import InputError
from importer.read_xlsx import display

MAX_FIELD_CHARS = 1_000_000  # one cell; bigger usually means an unclosed quote
#: pyarrow parses a block per thread; a cell must fit in one (4 MB holds MAX_FIELD_CHARS).
ARROW_BLOCK_BYTES = 4 * 1024 * 1024
HEADER_SCAN_ROWS = 10  # the header is looked for within this many rows
DELIMITERS = (",", ";", "\t", "|")

_CONTROL = frozenset(chr(c) for c in range(32)) - set("\t\n\r\x0b\x0c")
_RAGGED = re.compile(r"Expected \d+ fields in line \d+, saw (\d+)")
_UNCLOSED = re.compile(r"EOF inside string starting at row (\d+)")


def _detect_encoding(path: Path, head: bytes) -> str:
    """BOM first, else UTF-8 if the whole file decodes, else cp1252 (Excel's "CSV" on Windows)."""
    name = display(path.name)
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):  # before UTF-16: FF FE 00 00
        raise InputError(f"{name} is UTF-32 text; save it as CSV UTF-8")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8 = True
    with path.open("rb") as handle:
        while chunk := handle.read(4 * 1024 * 1024):
            if b"\x00" in chunk:
                raise InputError(
                    f"{name} contains NUL bytes: it is a binary file, not a CSV or XLSX "
                    "(if it is UTF-16 text, save it as CSV UTF-8)"
                )
            if utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    if utf8:
        return "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
    return "cp1252"


def _decode_sample(path: Path, head: bytes, size: int, encoding: str) -> str:
    """Decode the first bytes, cutting the last (maybe partial) line when the file is longer."""
    name = display(path.name)
    try:
        text = head.decode(encoding, errors="replace" if encoding != "cp1252" else "strict")
    except UnicodeDecodeError:
        raise InputError(
            f"{name} is neither UTF-8 nor Windows-1252 text (it may be a binary "
            "file); export the sheet again as .xlsx or CSV UTF-8"
        ) from None
    if encoding == "utf-16" and text.startswith("\ufeff"):
        text = text[1:]
    if text.startswith("\ufeff"):
        text = text[1:]
    if len(head) < size and "\n" in text:
        text = text[: text.rindex("\n") + 1]
    controls = sum(1 for ch in text[:65536] if ch in _CONTROL)
    if controls > max(3, len(text[:65536]) // 100):
        raise InputError(
            f"{name} looks like a binary file, not a CSV or XLSX; "
            "export the sheet again as .xlsx or CSV UTF-8"
        )
    return text


def _sample_records(text: str, delim: str, limit: int = 200) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)  # \r alone ends a row
    records: list[list[str]] = []
    try:
        for record in reader:
            records.append(record)
            if len(records) >= limit:
                break
    except csv.Error:
        pass  # an unclosed quote in the sample: judge on what was read
    return records


def header_index(
    records: list[list[str]], field_of: Callable[[str], str | None] = field_for_header
) -> tuple[int, int]:
    """(index of the header record, number of cells mapping to known fields)."""
    first: tuple[int, int] | None = None
    for index, record in enumerate(records[:HEADER_SCAN_ROWS]):
        cells = [c.strip() for c in record if c and c.strip()]
        if not cells:
            continue
        known = len({field_of(c) for c in cells} - {None})
        if known >= 2:
            return index, known
        first = first or (index, known)
    return first or (0, 0)


def _detect_delimiter(text: str) -> str:
    """Prefer the delimiter giving the most known headers, then a consistent column count."""
    best: tuple[int, float, int] | None = None
    choice = ","
    for delim in DELIMITERS:
        records = [r for r in _sample_records(text, delim) if any(c.strip() for c in r)]
        if not records:
            continue
        header, known = header_index(records)
        width = len(records[header])
        rows = records[header + 1 :] or records[header:]
        consistent = sum(1 for r in rows if len(r) == width) / len(rows)
        score = (known, consistent if width > 1 else 0.0, width)
        if best is None or score > best:
            best, choice = score, delim
    return choice


def repair_mixed_encoding(frame: pd.DataFrame) -> list[int]:
    """In a frame decoded as cp1252, decode back the cells whose bytes were UTF-8 ("CafÃ©"
    becomes "Café"): a file whose lines mix both encodings. Returns the rows affected.

    A cell is taken for UTF-8 only when its cp1252 bytes are valid UTF-8 with at least one
    multi-byte sequence, which real cp1252 text (an "é" followed by a space) almost never is.
    """
    rows: set[int] = set()
    for column_position, column in enumerate(frame.columns):
        cells = frame[column].to_numpy(dtype=object)
        if "\x00".join(cells).isascii():
            continue
        for position, cell in enumerate(cells):
            if cell.isascii():
                continue
            try:
                fixed = cell.encode("cp1252").decode("utf-8")
            except UnicodeError:
                continue
            if fixed != cell:
                frame.iat[position, column_position] = fixed
                rows.add(int(frame.index[position]))
    return sorted(rows)


def read_csv(
    path: Path, head: bytes, size: int, delimiter: str | None
) -> tuple[pd.DataFrame, str, str, list[int]]:
    """(every record as text, encoding, delimiter, rows that were UTF-8 in a cp1252 file);
    frame row i is spreadsheet row i.

    pyarrow for a UTF-8 file of uniform records, else pandas' C engine; blank lines kept.
    """
    name = display(path.name)
    encoding = _detect_encoding(path, head)
    text = _decode_sample(path, head, size, encoding)
    if not text.strip() and len(head) >= size:
        raise InputError(f"{name} contains only whitespace; it has no header and no rows")
    if delimiter is not None:
        delimiter = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}.get(
            delimiter, delimiter
        )
        if len(delimiter) != 1 or delimiter in '"\r\n':
            raise InputError(
                f"delimiter {delimiter!r} is not usable; give one character such as , ; | or tab"
            )
    delim = delimiter or _detect_delimiter(text)
    width = max((len(r) for r in _sample_records(text, delim, 1000)), default=1)
    frame = _read_uniform(path, name, delim, width) if encoding.startswith("utf-8") else None
    if frame is None:
        frame = _read_any(path, name, delim, width, encoding)
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    mixed = repair_mixed_encoding(frame) if encoding == "cp1252" else []
    return frame, encoding, delim, mixed


def _too_long(name: str, longest: int) -> None:
    """Refuse a cell longer than MAX_FIELD_CHARS (usually an unclosed quote)."""
    if longest > MAX_FIELD_CHARS:
        raise InputError(
            f"{name} has a cell of {longest} characters (limit "
            f"{MAX_FIELD_CHARS}); usually an unclosed quote, fix it and try again"
        )


def _read_uniform(path: Path, name: str, delim: str, width: int) -> pd.DataFrame | None:
    """The file by pyarrow, when every record has `width` cells; None when pyarrow refuses
    it (the pandas path then reads it, or says what is wrong)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pa_csv

    names = [str(i) for i in range(width)]
    try:
        table = pa_csv.read_csv(
            path,
            read_options=pa_csv.ReadOptions(column_names=names, block_size=ARROW_BLOCK_BYTES),
            parse_options=pa_csv.ParseOptions(
                delimiter=delim,
                quote_char='"',
                double_quote=True,
                escape_char=False,
                newlines_in_values=True,
                ignore_empty_lines=False,
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowException, OSError):
        return None
    if table.num_rows == 0:
        return None
    _too_long(name, max(pc.max(pc.utf8_length(column)).as_py() or 0 for column in table.columns))
    table = table.combine_chunks()  # one array a column: taking rows from chunks is slow
    frame: pd.DataFrame = table.to_pandas(
        types_mapper={pa.string(): pd.StringDtype(na_value=np.nan)}.get
    )
    frame.columns = pd.RangeIndex(width)
    return frame


def _read_any(path: Path, name: str, delim: str, width: int, encoding: str) -> pd.DataFrame:
    """pandas' C engine, widening the frame when a later row has more cells than the sample."""
    for _ in range(50):  # widen when a later row has more cells than the sample showed
        try:
            with warnings.catch_warnings():  # too few names would drop cells with a warning
                warnings.simplefilter("error", pd.errors.ParserWarning)
                frame = pd.read_csv(
                    path,
                    sep=delim,
                    header=None,
                    names=range(width),
                    index_col=False,
                    dtype=str,
                    keep_default_na=False,
                    na_filter=False,
                    skip_blank_lines=False,
                    encoding=encoding,
                    engine="c",
                    quotechar='"',
                    doublequote=True,
                )
            break
        except pd.errors.ParserWarning:
            width = width * 2 + 8
            continue
        except pd.errors.ParserError as exc:
            message = str(exc)
            if match := _RAGGED.search(message):
                width = int(match.group(1))
                continue
            if match := _UNCLOSED.search(message):
                raise InputError(
                    f"{name}: a quote opened near row {int(match.group(1)) + 1} is never "
                    "closed; fix the quotes or export the sheet again"
                ) from None
            raise InputError(
                f"{name} is not a readable CSV ({' '.join(message.split())})"
            ) from None
        except UnicodeDecodeError:
            raise InputError(
                f"{name} is neither UTF-8 nor Windows-1252 text; export it again as CSV UTF-8"
            ) from None
        except pd.errors.EmptyDataError:
            raise InputError(
                f"{name} contains only whitespace; it has no header and no rows"
            ) from None
    else:
        raise InputError(f"{name} has rows with too many different cell counts to be a CSV")
    if frame.isna().to_numpy().any():  # defensive: na_filter=False should leave no NaN
        frame = frame.fillna("")
    _too_long(name, max((int(frame[c].str.len().max() or 0) for c in frame.columns), default=0))
    return frame
