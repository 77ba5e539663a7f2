"""read_sheet on inputs it cannot read: one clear line (InputError), never a traceback."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

import pytest
from fixtures_read import (
    HEADER,
    SHEET1,
    csv_text,
    patch_member,
    write_bytes,
    write_text,
    write_xlsx,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import importer.read as read_module
import importer.read_csv as csv_module
import importer.read_xlsx as xlsx_module
from importer.errors import InputError
from importer.read import Sheet, read_sheet

OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def fails(path: Path, match: str, **kwargs: str) -> str:
    """read_sheet raises InputError whose message is one line and matches `match`."""
    with pytest.raises(InputError, match=match) as err:
        read_sheet(path, **kwargs)
    message = str(err.value)
    assert "\n" not in message and "\r" not in message
    assert err.value.path == str(path)
    return message


def test_missing_file(tmp_path: Path) -> None:
    fails(tmp_path / "nope.csv", "file not found")


def test_directory(tmp_path: Path) -> None:
    fails(tmp_path, "is a folder, not a file")


def test_empty_file(tmp_path: Path) -> None:
    fails(write_bytes(tmp_path, "empty.csv", b""), r"is empty \(0 bytes\)")


@pytest.mark.parametrize("content", [b" ", b"\r\n\r\n", b" \t \n  \n", b"\xef\xbb\xbf\r\n"])
def test_only_whitespace(tmp_path: Path, content: bytes) -> None:
    fails(write_bytes(tmp_path, "blank.csv", content), "only whitespace")


def test_header_only_csv(tmp_path: Path) -> None:
    path = write_text(tmp_path, "h.csv", csv_text([HEADER, ("", "", "", ""), ("", "", "", "")]))
    fails(path, "has a header row but no data rows")


def test_header_only_xlsx(tmp_path: Path) -> None:
    fails(write_xlsx(tmp_path, sheets={"S": [HEADER]}), "has a header row but no data rows")


def test_nul_bytes_are_binary(tmp_path: Path) -> None:
    fails(write_bytes(tmp_path, "x.csv", b"Title,Course\n\x00\x01\x02\x00"), "NUL bytes")


def test_undecodable_bytes(tmp_path: Path) -> None:
    # 0x81 is neither UTF-8 here nor defined in Windows-1252
    fails(write_bytes(tmp_path, "x.csv", b"Title,Course\n\x81\x8d,1\n"), "Windows-1252")


def test_control_character_garbage(tmp_path: Path) -> None:
    data = bytes(range(1, 32)) * 40
    fails(write_bytes(tmp_path, "x.csv", data), "binary file")


def test_utf32_is_refused_clearly(tmp_path: Path) -> None:
    fails(write_text(tmp_path, "x.csv", csv_text(), "utf-32"), "UTF-32")


def test_csv_named_xlsx_with_no_rows_says_so(tmp_path: Path) -> None:
    fails(write_text(tmp_path, "x.xlsx", csv_text([HEADER])), "no data rows")


def test_corrupt_xlsx(tmp_path: Path) -> None:
    fails(write_bytes(tmp_path, "x.xlsx", b"PK\x03\x04" + b"garbage" * 50), "corrupt or truncated")


def test_truncated_xlsx(tmp_path: Path) -> None:
    data = write_xlsx(tmp_path).read_bytes()
    fails(write_bytes(tmp_path, "cut.xlsx", data[: len(data) // 2]), "corrupt or truncated")


@pytest.mark.parametrize("name", ["book.xlsx", "book.xls", "book.csv"])
def test_password_protected_or_legacy_xls(tmp_path: Path, name: str) -> None:
    message = fails(write_bytes(tmp_path, name, OLE2 + b"\x00" * 600), "password-protected")
    assert "save as .xlsx without a password" in message


def test_zip_that_is_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "doc.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("word/document.xml", "<w/>")
    fails(path, "not an Excel workbook")
    ods = tmp_path / "sheet.ods"
    with zipfile.ZipFile(ods, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
    fails(ods, "OpenDocument")


def test_invalid_xml_inside_xlsx(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path)
    patch_member(path, SHEET1, b"<sheetData>", b"<sheetData><<")
    fails(path, "is a damaged .xlsx .*save it again")


def test_xml_bomb_is_refused(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path)
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    )
    patch_member(path, SHEET1, b"<worksheet", bomb + b"<worksheet")
    patch_member(path, SHEET1, b"<t>Welcome</t>", b"<t>&lol3;</t>")
    fails(path, "unsafe XML")


def test_zip_bomb_ratio_is_refused(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/media/padding.bin", b"\x00" * (12 * 2**20))
    fails(path, "zip bomb")


def test_uncompressed_size_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xlsx_module, "MAX_XLSX_UNCOMPRESSED", 1000)
    fails(write_xlsx(tmp_path), "unpacks to .* over the")


def test_file_size_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(read_module, "MAX_FILE_BYTES", 100)
    fails(write_text(tmp_path, "big.csv", csv_text()), "over the .* limit; split it")


def test_huge_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_module, "MAX_FIELD_CHARS", 1000)
    text = csv_text([HEADER, ("101", "x" * 5000, "1", "Immediate")])
    fails(write_text(tmp_path, "big.csv", text), "has a cell of 5000 characters")


def test_unclosed_quote(tmp_path: Path) -> None:
    text = csv_text([HEADER, ("101", '"never closed', "1", "Immediate"), ("101", "B", "2", "x")])
    fails(write_text(tmp_path, "q.csv", text), "never closed")


def test_unknown_sheet_lists_sheets(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path, sheets={"One": [HEADER], "Two": [HEADER]})
    fails(path, '"One", "Two"', sheet="Three")


def test_file_name_with_line_break_stays_one_line(tmp_path: Path) -> None:
    fails(write_bytes(tmp_path, "bad\nname.csv", b""), r"bad\?name.csv is empty")


# --------------------------------------------------------------------------- property

MAGIC = st.sampled_from(
    [b"", b"PK\x03\x04", b"PK\x05\x06", OLE2, b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"]
)
TEXTY = st.lists(
    st.sampled_from(
        [
            "Course ID",
            "Title",
            "Order",
            "Unlock",
            ",",
            ";",
            "\t",
            "|",
            '"',
            "\n",
            "\r\n",
            "=1",
            "101",
            " ",
            "",
            "\x00",
            "é",
        ]
    ),
    max_size=40,
).map(lambda parts: "".join(parts).encode("utf-8"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(magic=MAGIC, body=st.one_of(st.binary(max_size=400), TEXTY))
def test_any_bytes_give_a_sheet_or_an_input_error(magic: bytes, body: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "any.xlsx"
        path.write_bytes(magic + body)
        try:
            sheet = read_sheet(path)
        except InputError as exc:
            assert "\n" not in str(exc) and "\r" not in str(exc)
        else:
            assert isinstance(sheet, Sheet)
            assert sheet.raw["source_row"].is_monotonic_increasing
            assert (sheet.raw["source_row"] > sheet.header_row).all()
