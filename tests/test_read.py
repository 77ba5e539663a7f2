"""read_sheet on well-formed CSV and XLSX files: encodings, delimiters, rows, headers, cells.

Row numbers are the ones LibreOffice/Excel show: the header on row 1, the first data row on
row 2, blank rows counted, a quoted cell with line breaks one row.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import openpyxl
import pytest
from fixtures_read import (
    HEADER,
    ROWS,
    SHEET1,
    csv_text,
    patch_member,
    write_text,
    write_xlsx,
)

from importer.codes import Rule
from importer.columns import REPORT_COLUMNS, REQUIRED_FIELDS, accepted_headers, header_key
from importer.errors import InputError
from importer.read import Sheet, read_sheet
from importer.read_xlsx import cell_text

MAPPED = {
    "CourseId": "Course ID",
    "Title": "Section title",
    "DisplayOrder": "Display order",
    "UnlockType": "Unlock type",
}


def rules(sheet: Sheet) -> list[str]:
    return [str(f.rule) for f in sheet.findings]


def records(sheet: Sheet) -> list[list[object]]:
    return sheet.raw.to_numpy().tolist()


# --------------------------------------------------------------------------- encodings


@pytest.mark.parametrize(
    ("encoding", "prefix", "expected"),
    [
        ("utf-8", "", "utf-8"),
        ("utf-8", "\ufeff", "utf-8-sig"),
        ("utf-16", "", "utf-16"),  # Python's utf-16 codec writes a BOM, as Excel does
        ("cp1252", "", "cp1252"),
    ],
)
def test_encodings_are_detected_and_bom_removed(
    tmp_path: Path, encoding: str, prefix: str, expected: str
) -> None:
    text = prefix + csv_text([HEADER, ("101", "Café – déjà vu €", "1", "Immediate")])
    sheet = read_sheet(write_text(tmp_path, "s.csv", text, encoding))
    assert sheet.encoding == expected
    assert sheet.format == "csv"
    assert sheet.columns == MAPPED  # BOM removed: "Course ID" maps
    assert records(sheet) == [[2, "101", "Café – déjà vu €", "1", "Immediate"]]
    assert sheet.findings == []


def test_excel_unicode_text_is_utf16_with_tabs(tmp_path: Path) -> None:
    text = csv_text([HEADER, *ROWS], delimiter="\t")
    path = tmp_path / "unicode.txt"
    path.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    sheet = read_sheet(path)
    assert (sheet.encoding, sheet.delimiter) == ("utf-16", "\t")
    assert [r[2] for r in records(sheet)] == ["Welcome", "Core skills"]


# --------------------------------------------------------------------------- delimiters


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_detected(tmp_path: Path, delimiter: str) -> None:
    # a comma inside a title must not fool the detection of ; \t |
    rows = [HEADER, ("101", "Intro, part 1", "1", "Immediate"), ("101", "Next", "2", "Timed")]
    if delimiter == ",":
        rows[1] = ("101", '"Intro, part 1"', "1", "Immediate")
    sheet = read_sheet(write_text(tmp_path, "s.csv", csv_text(rows, delimiter)))
    assert sheet.delimiter == delimiter
    assert sheet.columns == MAPPED
    assert records(sheet)[0] == [2, "101", "Intro, part 1", "1", "Immediate"]


def test_forced_delimiter_wins(tmp_path: Path) -> None:
    text = csv_text([("Course ID;Title", "x"), ("101;A", "y")])
    path = write_text(tmp_path, "s.csv", text)
    assert read_sheet(path).delimiter == ";"  # detection prefers known headers
    forced = read_sheet(path, delimiter=",")
    assert forced.delimiter == ","
    assert list(forced.raw.columns) == ["source_row", "Course ID;Title", "x"]
    assert read_sheet(path, delimiter="tab").delimiter == "\t"


def test_wrong_forced_delimiter_says_which_one_the_header_uses(tmp_path: Path) -> None:
    """Forcing "," on a semicolon file: the missing-column findings name the fix."""
    path = write_text(tmp_path, "s.csv", csv_text([HEADER, ROWS[0]], delimiter=";"))
    missing = [f for f in read_sheet(path, delimiter=",").findings if f.rule == "missing_column"]
    assert missing and all('use --delimiter ";"' in f.message for f in missing)
    clean = read_sheet(write_text(tmp_path, "t.csv", csv_text([("Title", "Order"), ("A", "1")])))
    assert not any("--delimiter" in f.message for f in clean.findings)  # no false hint


def test_unusable_forced_delimiter_is_an_input_error(tmp_path: Path) -> None:
    path = write_text(tmp_path, "s.csv", csv_text())
    with pytest.raises(InputError, match="delimiter"):
        read_sheet(path, delimiter=";;")


# --------------------------------------------------------------------------- cells and rows


@pytest.mark.parametrize("word", ["NA", "N/A", "None", "null", "NULL", "nan", "#N/A", "-"])
def test_na_like_words_stay_text(tmp_path: Path, word: str) -> None:
    sheet = read_sheet(write_text(tmp_path, "s.csv", csv_text([HEADER, ("1", word, "1", "x")])))
    assert sheet.raw.at[0, "Section title"] == word
    assert sheet.raw["Course ID"].map(type).eq(str).all()


def test_row_numbers_match_the_spreadsheet(tmp_path: Path) -> None:
    text = (
        "Course ID,Section title,Display order,Unlock type\r\n"  # row 1 header
        "101,First,1,Immediate\r\n"  # row 2
        "\r\n"  # row 3 blank line
        '101,"Two\r\nline title",2,Sequential\r\n'  # row 4 (one row, two lines)
        ",,,\r\n"  # row 5 only delimiters: blank
        ',"  ",  ,\t\r\n'  # row 6 whitespace only: blank
        '101,"Three\nlines\nhere",3,Timed\r\n'  # row 7
        "101,Last,4,Immediate"  # row 8, no final newline
    )
    sheet = read_sheet(write_text(tmp_path, "s.csv", text))
    assert sheet.header_row == 1
    assert sheet.raw["source_row"].tolist() == [2, 4, 7, 8]
    assert sheet.raw["Section title"].tolist() == [
        "First",
        "Two\r\nline title",
        "Three\nlines\nhere",
        "Last",
    ]
    # the csv module (what LibreOffice does: one record per row) agrees
    reader_rows = list(csv.reader(io.StringIO(text, newline="")))
    for row_number, title in zip(sheet.raw["source_row"], sheet.raw["Section title"], strict=True):
        assert reader_rows[row_number - 1][1] == title


def test_header_below_title_rows(tmp_path: Path) -> None:
    text = csv_text(
        [
            ("Course outline for spring", "", "", ""),  # row 1: a title
            ("", "", "", ""),  # row 2: blank
            HEADER,  # row 3
            ("101", "Welcome", "1", "Immediate"),  # row 4
        ]
    )
    sheet = read_sheet(write_text(tmp_path, "s.csv", text))
    assert sheet.header_row == 3
    assert sheet.columns == MAPPED
    assert records(sheet) == [[4, "101", "Welcome", "1", "Immediate"]]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_header_after_more_blank_rows_than_the_scan_window(tmp_path: Path, fmt: str) -> None:
    """Twelve blank rows, then the header on row 13: found, not a blank row 1 as header."""
    rows = [("", "", "", "")] * 12 + [HEADER, ("101", "Welcome", "1", "Immediate")]
    if fmt == "csv":
        path = write_text(tmp_path, "s.csv", csv_text(rows))
    else:
        path = write_xlsx(tmp_path, sheets={"S": [[*r] if any(r) else [] for r in rows]})
    sheet = read_sheet(path)
    assert sheet.header_row == 13
    assert sheet.columns == MAPPED and not sheet.findings
    assert records(sheet) == [[14, "101", "Welcome", "1", "Immediate"]]


def test_headers_are_trimmed_and_blank_empty_columns_dropped(tmp_path: Path) -> None:
    text = csv_text(
        [
            (" Course ID ", "Section title ", "", "Display order", "Unlock type", ""),
            ("101", "A", "", "1", "Immediate", "stray"),
        ]
    )
    sheet = read_sheet(write_text(tmp_path, "s.csv", text))
    assert sheet.columns == MAPPED
    assert list(sheet.raw.columns) == [
        "source_row",
        "Course ID",
        "Section title",
        "Display order",
        "Unlock type",
        "Column F",
    ]
    assert sheet.unknown == ["Column F"]
    assert rules(sheet) == [Rule.UNKNOWN_COLUMN]


def test_ragged_rows_with_extra_cells(tmp_path: Path) -> None:
    text = csv_text([HEADER, ("101", "A", "1", "Immediate")]) + "101,B,2,Timed,oops,again\r\n"
    sheet = read_sheet(write_text(tmp_path, "s.csv", text))
    assert records(sheet) == [
        [2, "101", "A", "1", "Immediate", "", ""],
        [3, "101", "B", "2", "Timed", "oops", "again"],
    ]
    assert sheet.unknown == ["Column E", "Column F"]


# --------------------------------------------------------------------------- header findings


def test_exact_duplicate_headers_are_made_unique(tmp_path: Path) -> None:
    text = csv_text([(*HEADER, "Section title"), ("101", "A", "1", "Immediate", "B")])
    sheet = read_sheet(write_text(tmp_path, "s.csv", text))
    assert list(sheet.raw.columns)[-1] == "Section title (2)"
    assert sheet.columns["Title"] == "Section title"
    (finding,) = sheet.findings
    assert finding.rule == Rule.DUPLICATE_COLUMN
    assert finding.column == "Section title (2)" and finding.field == "Title"
    assert finding.source_row is None


def test_alias_duplicates_use_the_first(tmp_path: Path) -> None:
    text = csv_text(
        [
            ("Title", "Course ID", "Section name", "Order", "Unlock"),
            ("A", "101", "B", "1", "Immediate"),
        ]
    )
    sheet = read_sheet(write_text(tmp_path, "s.csv", text))
    assert sheet.columns["Title"] == "Title"
    (finding,) = sheet.findings
    assert finding.rule == Rule.DUPLICATE_COLUMN
    assert '"Title"' in finding.message and '"Section name"' in finding.message


def test_unknown_columns_are_kept_with_a_warning(tmp_path: Path) -> None:
    text = csv_text([(*HEADER, "Notes"), ("101", "A", "1", "Immediate", "ask Sam")])
    sheet = read_sheet(write_text(tmp_path, "s.csv", text))
    assert sheet.unknown == ["Notes"]
    assert sheet.raw.at[0, "Notes"] == "ask Sam"
    (finding,) = sheet.findings
    assert (finding.rule, finding.column, str(finding.severity)) == (
        Rule.UNKNOWN_COLUMN,
        "Notes",
        "warning",
    )


def test_missing_required_columns_name_the_accepted_headers(tmp_path: Path) -> None:
    text = csv_text([("Title", "Notes", "Order"), ("A", "x", "1")])
    sheet = read_sheet(write_text(tmp_path, "s.csv", text))
    missing = {f.field: f for f in sheet.findings if f.rule == Rule.MISSING_COLUMN}
    assert set(missing) == set(REQUIRED_FIELDS) - {"Title", "DisplayOrder"}
    for field_name, finding in missing.items():
        assert finding.source_row is None
        named = re.findall(r'"([^"]+)"', finding.message.split("one of:", 1)[1])
        # every accepted header is named once, in one spelling ("Title", not also "title")
        assert {header_key(h) for h in named} == {
            header_key(h) for h in accepted_headers(field_name)
        }
        assert len(named) == len({header_key(h) for h in named})
        assert named[0] == accepted_headers(field_name)[0]  # the friendly header first


def test_report_columns_are_ignored_silently(tmp_path: Path) -> None:
    text = csv_text([(*HEADER, *REPORT_COLUMNS), ("101", "A", "1", "Immediate", "bad", "x", "")])
    sheet = read_sheet(write_text(tmp_path, "errors.csv", text))
    assert sheet.findings == []
    assert list(sheet.raw.columns) == ["source_row", *HEADER]
    assert sheet.extra["ignored"] == list(REPORT_COLUMNS)


# --------------------------------------------------------------------------- CSV formulas


def test_csv_formula_in_numeric_fields_is_a_finding_but_text_fields_keep_it(
    tmp_path: Path,
) -> None:
    title = "=cmd|' /C calc'!A0"
    text = csv_text([HEADER, ("=A1+1", title, "1", "Immediate"), ("101", "B", " =SUM(C1)", "x")])
    sheet = read_sheet(write_text(tmp_path, "s.csv", text))
    assert sheet.raw["Section title"].tolist() == [title, "B"]
    assert sheet.raw["Course ID"].tolist() == ["", "101"]
    assert sheet.raw["Display order"].tolist() == ["1", ""]
    found = [(f.rule, f.source_row, f.column, f.field, f.value) for f in sheet.findings]
    assert found == [
        (Rule.FORMULA_WITHOUT_VALUE, 2, "Course ID", "CourseId", "=A1+1"),
        (Rule.FORMULA_WITHOUT_VALUE, 3, "Display order", "DisplayOrder", " =SUM(C1)"),
    ]


# --------------------------------------------------------------------------- XLSX


def test_xlsx_first_sheet_named_sheet_and_unknown_sheet(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path,
        sheets={
            "Outline": [HEADER, (101, "First", 1, "Immediate")],
            "Other": [HEADER, (102, "Second", 1, "Timed")],
        },
    )
    first = read_sheet(path)
    assert (first.format, first.sheet_name, first.encoding, first.delimiter) == (
        "xlsx",
        "Outline",
        None,
        None,
    )
    assert records(first) == [[2, "101", "First", "1", "Immediate"]]
    other = read_sheet(path, sheet="Other")
    assert other.sheet_name == "Other" and other.raw.at[0, "Section title"] == "Second"
    with pytest.raises(InputError, match='no sheet named "Nope".*"Outline", "Other"') as err:
        read_sheet(path, sheet="Nope")
    assert "\n" not in str(err.value)


def test_xlsx_hidden_first_sheet_is_skipped_and_sheet_names_match_loosely(
    tmp_path: Path,
) -> None:
    """The default is the first sheet a person sees; --sheet ignores case and spaces."""
    path = write_xlsx(
        tmp_path,
        sheets={
            "Lookups": [("Unlock types",), ("Immediate",)],
            "Outline": [HEADER, (101, "First", 1, "Immediate")],
        },
    )
    book = openpyxl.load_workbook(path)
    book["Lookups"].sheet_state = "hidden"
    book.save(path)
    assert read_sheet(path).sheet_name == "Outline"
    assert read_sheet(path, sheet="Lookups").sheet_name == "Lookups"  # still readable by name
    assert read_sheet(path, sheet=" outline ").sheet_name == "Outline"


def test_xlsx_cell_values_become_spreadsheet_text(tmp_path: Path) -> None:
    import datetime as dt

    path = write_xlsx(
        tmp_path,
        sheets={
            "S": [
                (*HEADER, "Active", "Notes"),
                (101, "NA", 3.5, "Immediate", True, dt.datetime(2024, 1, 2)),
                (101, None, 2, "Timed", False, dt.datetime(2024, 1, 2, 9, 30)),
            ]
        },
    )
    patch_member(path, SHEET1, b"<v>101</v>", b"<v>101.0</v>")  # Excel-style 101.0
    sheet = read_sheet(path)
    assert records(sheet) == [
        [2, "101", "NA", "3.5", "Immediate", "TRUE", "2024-01-02"],
        [3, "101", "", "2", "Timed", "FALSE", "2024-01-02T09:30:00"],
    ]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3.0, "3"),
        (0.1, "0.1"),
        (1.1 + 2.2, "3.3"),
        (2.5, "2.5"),
        (123456789.125, "123456789.125"),
        (1e20, "1e+20"),
        (-7.0, "-7"),
        (7, "7"),
        (True, "TRUE"),
        (None, ""),
    ],
)
def test_cell_text(value: object, text: str) -> None:
    assert cell_text(value) == text


def test_xlsx_blank_rows_title_rows_and_merged_cells(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path,
        sheets={
            "S": [
                ("Spring outline",),  # row 1
                (),  # row 2
                HEADER,  # row 3
                (101, "Merged title", None, "Immediate"),  # row 4: B4:C4 merged
                (),  # row 5
                (None, "  ", None, None),  # row 6: whitespace only
                (101, "Last", 2, "Timed"),  # row 7
            ]
        },
        merge=["B4:C4", "A1:D1"],
    )
    sheet = read_sheet(path)
    assert sheet.header_row == 3
    assert records(sheet) == [
        [4, "101", "Merged title", "", "Immediate"],
        [7, "101", "Last", "2", "Timed"],
    ]


def test_xlsx_formula_without_cached_value_is_a_finding(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path,
        sheets={"S": [HEADER, (101, "A", "=1+1", "Immediate"), (101, '=UPPER("b")', 2, "Timed")]},
    )
    sheet = read_sheet(path)
    assert sheet.raw["Display order"].tolist() == ["", "2"]
    assert sheet.raw["Section title"].tolist() == ["A", ""]
    found = [(f.rule, f.source_row, f.column, f.value) for f in sheet.findings]
    assert found == [
        (Rule.FORMULA_WITHOUT_VALUE, 2, "Display order", "=1+1"),
        (Rule.FORMULA_WITHOUT_VALUE, 3, "Section title", '=UPPER("b")'),
    ]
    assert all(str(f.severity) == "error" for f in sheet.findings)


def test_xlsx_formula_with_cached_value_uses_the_value(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path, sheets={"S": [HEADER, (101, "A", "=1+1", "Immediate")]})
    patch_member(path, SHEET1, b"<f>1+1</f><v />", b"<f>1+1</f><v>2</v>")  # as Excel saves it
    sheet = read_sheet(path)
    assert sheet.raw.at[0, "Display order"] == "2"
    assert sheet.findings == []


def test_xlsx_formula_whose_saved_result_is_an_error_is_a_finding(tmp_path: Path) -> None:
    """A title saved as #DIV/0! is flagged and blanked, never imported as the title."""
    path = write_xlsx(tmp_path, sheets={"S": [HEADER, (101, "=1/0", 1, "Immediate")]})
    # as Excel and LibreOffice save it: an error-typed cell with the error as its value
    patch_member(
        path, SHEET1, b'<c r="B2"><f>1/0</f><v />', b'<c r="B2" t="e"><f>1/0</f><v>#DIV/0!</v>'
    )
    sheet = read_sheet(path)
    assert sheet.raw.at[0, "Section title"] == ""
    (finding,) = sheet.findings
    assert (finding.rule, finding.source_row, finding.value) == (
        Rule.FORMULA_WITHOUT_VALUE,
        2,
        "=1/0",
    )
    assert "gives the error #DIV/0!" in finding.message


def test_xlsx_header_findings(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path,
        sheets={
            "S": [("Title", "Course", "Title", None, "Error"), ("A", 101, "B", None, "old error")]
        },
    )
    sheet = read_sheet(path)
    assert list(sheet.raw.columns) == ["source_row", "Title", "Course", "Title (2)"]
    assert sorted(rules(sheet)) == sorted(
        [Rule.DUPLICATE_COLUMN, Rule.MISSING_COLUMN, Rule.MISSING_COLUMN]
    )


def test_csv_content_named_xlsx_is_read_as_csv(tmp_path: Path) -> None:
    sheet = read_sheet(write_text(tmp_path, "really.xlsx", csv_text()))
    assert sheet.format == "csv" and len(sheet.raw) == 2


def test_xlsx_content_with_any_extension_is_read_as_xlsx(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path)
    renamed = path.rename(tmp_path / "download.bin")
    assert read_sheet(renamed).format == "xlsx"


def test_big_csv_keeps_row_numbers(tmp_path: Path) -> None:
    """Over pandas' parallel-read threshold (5 MB): row numbers must not shift."""
    lines = ["Course ID,Section title,Display order,Unlock type"]
    for i in range(80_000):
        if i % 997 == 0:
            lines.append("")
        title = f'"Line one {i}\nline two"' if i % 1009 == 0 else f"Title number {i:08d} " * 3
        lines.append(f"{100 + i // 500},{title},{i % 500 + 1},Immediate")
    text = "\n".join(lines) + "\n"
    sheet = read_sheet(write_text(tmp_path, "big.csv", text))
    expected = [(n + 1, r[1]) for n, r in enumerate(csv.reader(io.StringIO(text))) if r][1:]
    assert list(zip(sheet.raw["source_row"], sheet.raw["Section title"], strict=True)) == expected


def test_old_mac_line_endings(tmp_path: Path) -> None:
    text = 'Course ID,Title,Order,Unlock\r101,A,1,Immediate\r\r101,"B\rC",2,Timed\r'
    sheet = read_sheet(write_text(tmp_path, "cr.csv", text))
    assert records(sheet) == [[2, "101", "A", "1", "Immediate"], [4, "101", "B\rC", "2", "Timed"]]


def test_rows_wider_than_the_sample_lose_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importer.read as read_module

    monkeypatch.setattr(read_module, "_SAMPLE_BYTES", 12)  # the sample sees almost nothing
    text = csv_text([("Title only",), HEADER, *ROWS]) + "101,Wide,3,Timed,x,y,z\r\n"
    sheet = read_sheet(write_text(tmp_path, "s.csv", text))
    assert sheet.header_row == 2
    assert records(sheet)[-1] == [5, "101", "Wide", "3", "Timed", "x", "y", "z"]
    assert sheet.unknown == ["Column E", "Column F", "Column G"]


def test_xlsx_formula_whose_saved_result_is_empty_text_is_not_a_finding(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path, sheets={"S": [HEADER, (101, "A", "=1+1", "Immediate")]})
    # Excel and LibreOffice save an empty text result as t="str" with an empty <v>
    patch_member(
        path, SHEET1, b'<c r="C2"><f>1+1</f><v /></c>', b'<c r="C2" t="str"><f>T(0)</f><v></v></c>'
    )
    sheet = read_sheet(path)
    assert sheet.raw.at[0, "Display order"] == ""
    assert sheet.findings == []


def test_xlsx_shared_formula_without_value_is_a_finding(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path, sheets={"S": [HEADER, (101, "A", 1, "Immediate")]})
    patch_member(
        path, SHEET1, b'<c r="C2" t="n"><v>1</v></c>', b'<c r="C2"><f t="shared" si="0"/></c>'
    )
    (finding,) = read_sheet(path).findings
    assert (finding.rule, finding.source_row, finding.column) == (
        Rule.FORMULA_WITHOUT_VALUE,
        2,
        "Display order",
    )
    assert "shared formula" in finding.message


@pytest.mark.parametrize("strip", [b'<c r="B2" t="inlineStr">', b'<c r="C2">'])
def test_xlsx_formula_found_in_cells_without_references(tmp_path: Path, strip: bytes) -> None:
    """Cells may omit r="A1" (streaming writers do): the row and column are then counted."""
    path = write_xlsx(tmp_path, sheets={"S": [HEADER, (101, "A", "=1+1", "Immediate")]})
    plain = b"<c>" if strip.endswith(b'"C2">') else b'<c t="inlineStr">'
    patch_member(path, SHEET1, strip, plain)
    (finding,) = read_sheet(path).findings
    assert (finding.source_row, finding.column, finding.value) == (2, "Display order", "=1+1")
