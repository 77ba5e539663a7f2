"""validate_sheet / validate_file: the result object, valid rows' payloads and the JSON summary."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from test_schema import found, make_sheet

from importer.codes import Rule
from importer.columns import BY_FIELD, FIELDS, REQUIRED_FIELDS, UNLOCK_TYPES
from importer.findings import FINDING_COLUMNS, Finding
from importer.validate import ValidRow, summary, validate_file, validate_sheet

JSON_KEYS = {"file", "sheet", "encoding", "delimiter", "rows", "errors", "warnings", "findings"}
FINDING_KEYS = {"row", "column", "field", "value", "rule", "severity", "message"}


def test_clean_sheet_is_ok_and_every_row_is_valid() -> None:
    result = validate_sheet(make_sheet([{}, {"UnlockType": "Sequential"}]))
    assert result.ok and result.errors == 0 and result.warnings == 0
    assert result.invalid_rows == set()
    assert list(result.findings.columns) == list(FINDING_COLUMNS)
    assert list(result.table.columns) == ["source_row", *FIELDS]
    assert [row.source_row for row in result.valid_rows()] == [2, 3]


def test_errors_make_rows_invalid_warnings_do_not() -> None:
    result = validate_sheet(
        make_sheet([{"UnlockAfterDays": "4"}, {"CourseId": "0"}, {"Active": "nope"}])
    )
    assert result.errors == 2 and result.warnings == 1 and not result.ok
    assert result.invalid_rows == {3, 4}
    assert [row.source_row for row in result.valid_rows()] == [2]


def test_payload_is_the_post_body_with_plain_python_types() -> None:
    sheet = make_sheet(
        [
            {"UnlockType": "1", "SectionContents": "  <p>Hi</p> ", "Active": "no"},
            {"UnlockType": "timed", "UnlockAfterDays": "14.0", "ClearImageFile": "yes"},
            {"UnlockType": "Sequential", "NewImageUrl": " https://img.example.com/a.png "},
        ]
    )
    rows = validate_sheet(sheet).valid_rows()
    assert rows[0] == ValidRow(
        2,
        (101, 1),
        {
            "CourseId": 101,
            "Title": "Section 1",
            "DisplayOrder": 1,
            "UnlockType": 1,
            "UnlockAfterDays": 0,
            "SectionContents": "<p>Hi</p>",
            "Active": False,
        },
    )
    assert rows[1].payload["UnlockAfterDays"] == 14
    assert rows[1].payload["ClearImageFile"] is True
    assert "SectionContents" not in rows[1].payload
    assert rows[2].payload["NewImageUrl"] == "https://img.example.com/a.png"
    assert "ClearImageFile" not in rows[2].payload
    for row in rows:
        for value in row.payload.values():
            assert type(value) in (int, bool, str)
        assert all(type(k) is int for k in row.key)


def test_payload_omits_optional_columns_the_sheet_does_not_have() -> None:
    """Active is always sent (true by default): nothing depends on the server's default."""
    sheet = make_sheet([{}], fields=REQUIRED_FIELDS)
    (row,) = validate_sheet(sheet).valid_rows()
    assert set(row.payload) == {*REQUIRED_FIELDS, "UnlockAfterDays", "Active"}
    assert row.payload["Active"] is True


def test_missing_required_column_is_reported_once_and_every_row_is_invalid() -> None:
    header = Finding(
        rule=Rule.MISSING_COLUMN, message="Section title column is missing.", field="Title"
    )
    fields = tuple(f for f in FIELDS if f != "Title")
    sheet = make_sheet([{}, {"DisplayOrder": "-4"}, {}], fields=fields, findings=[header])
    result = validate_sheet(sheet)
    assert found(result) == {(Rule.MISSING_COLUMN, None), (Rule.OUT_OF_RANGE, 3)}
    assert result.invalid_rows == {2, 3, 4}
    assert result.valid_rows() == []
    assert result.errors == 2


def test_warning_only_header_findings_keep_rows_valid() -> None:
    header = Finding(rule=Rule.UNKNOWN_COLUMN, message="Notes is not a known column.")
    result = validate_sheet(make_sheet([{}], findings=[header]))
    assert result.ok and result.warnings == 1 and len(result.valid_rows()) == 1


def test_summary_is_json_native_and_shaped() -> None:
    header = Finding(rule=Rule.UNKNOWN_COLUMN, message="Notes is not a known column.", column="N")
    result = validate_sheet(make_sheet([{"CourseId": "x"}, {}], findings=[header]))
    data = summary(result)
    assert set(data) == JSON_KEYS
    assert json.loads(json.dumps(data)) == data
    assert (data["rows"], data["errors"], data["warnings"]) == (2, 1, 1)
    assert data["file"] == "sections.csv" and data["delimiter"] == ","
    assert [f["row"] for f in data["findings"]] == [None, 2]
    for finding in data["findings"]:
        assert set(finding) == FINDING_KEYS
        assert finding["row"] is None or type(finding["row"]) is int


def test_validate_file_reads_and_validates(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(
        "Course ID,Section title,Display order,Unlock type\n101,A,1,Immediate\n101,B,1,Timed\n",
        encoding="utf-8",
    )
    result = validate_file(path)
    assert found(result) == {
        (Rule.DISPLAY_ORDER_DUPLICATE, 2),
        (Rule.DISPLAY_ORDER_DUPLICATE, 3),
        (Rule.TIMED_NEEDS_DAYS, 3),
    }


def test_a_thousand_rows_validate_quickly() -> None:
    """Sanity only (figures live in benchmarks/bench_validate.py)."""
    rows = [{"CourseId": str(100 + i // 50), "DisplayOrder": str(i % 50 + 1)} for i in range(1000)]
    start = time.perf_counter()
    result = validate_sheet(make_sheet(rows))
    assert time.perf_counter() - start < 5  # generous: a sanity bound, not a benchmark
    assert result.ok and len(result.valid_rows()) == 1000


@st.composite
def valid_sheets(draw: st.DrawFn) -> list[dict[str, str]]:
    """Sheets that break no error rule, written the many ways people write them."""
    rows: list[dict[str, str]] = []
    for course in draw(st.lists(st.integers(1, 10**9), min_size=1, max_size=3, unique=True)):
        orders = draw(st.lists(st.integers(0, 10**6), min_size=1, max_size=6, unique=True))
        for n, order in enumerate(orders):
            unlock = draw(st.sampled_from(sorted(UNLOCK_TYPES)))
            spelled = draw(
                st.sampled_from(
                    [str(unlock), f"{unlock}.0", UNLOCK_TYPES[unlock], UNLOCK_TYPES[unlock].upper()]
                )
            )
            days = (
                str(draw(st.integers(0, 3650))) if unlock == 3 else draw(st.sampled_from(["", "0"]))
            )
            rows.append(
                {
                    "CourseId": draw(st.sampled_from([str(course), f" {course} ", f"{course}.0"])),
                    "Title": f"{draw(st.text(min_size=0, max_size=8))} #{n}",
                    "DisplayOrder": str(order),
                    "UnlockType": spelled,
                    "UnlockAfterDays": days,
                    "Active": draw(st.sampled_from(["", "yes", "No", "TRUE", "0", "x"])),
                    "NewImageUrl": draw(st.sampled_from(["", "https://img.example.com/a.PNG?v=1"])),
                    "ClearImageFile": "",
                }
            )
    return draw(st.permutations(rows))


@given(valid_sheets())
@settings(max_examples=40, deadline=None)
def test_generated_valid_sheets_have_no_errors(rows: list[dict[str, str]]) -> None:
    result = validate_sheet(make_sheet(rows))
    assert result.errors == 0, result.findings[["source_row", "rule", "value"]].to_string()
    valid = result.valid_rows()
    assert len(valid) == len(rows)
    for row in valid:
        assert set(row.payload) >= {*REQUIRED_FIELDS, "UnlockAfterDays"}
        assert row.payload["UnlockType"] in UNLOCK_TYPES


@given(st.lists(st.fixed_dictionaries({f: st.text(max_size=6) for f in FIELDS}), max_size=8))
@settings(max_examples=40, deadline=None)
def test_any_text_gives_findings_not_exceptions(rows: list[dict[str, str]]) -> None:
    """Arbitrary cells never crash validation; every finding names a real row or the header."""
    result = validate_sheet(make_sheet(rows))
    sources = set(range(2, 2 + len(rows)))
    assert set(result.findings["source_row"].dropna().astype(int)) <= sources
    assert result.invalid_rows <= sources
    assert len(result.valid_rows()) == len(rows) - len(result.invalid_rows)
    json.dumps(summary(result))
    for name in ("CourseId", "DisplayOrder"):
        assert str(result.table[name].dtype) == "Int64"
    assert all(pd.api.types.is_bool(v) or pd.isna(v) for v in result.table["Active"])
    assert BY_FIELD["Active"].default is True


def test_reader_cell_findings_are_not_repeated_by_the_schema() -> None:
    """A formula with no saved value is reported by the reader; no extra `required` for it."""
    formula = Finding(
        rule=Rule.FORMULA_WITHOUT_VALUE,
        message="formula without value",
        source_row=3,
        column="Section title",
        field="Title",
        value="=A1",
    )
    result = validate_sheet(make_sheet([{}, {"Title": ""}, {"Title": ""}], findings=[formula]))
    assert found(result) == {
        (Rule.FORMULA_WITHOUT_VALUE, 3),
        (Rule.REQUIRED, 4),
    }
    assert result.invalid_rows == {3, 4}


def test_messages_name_the_header_as_the_person_typed_it() -> None:
    """A sheet headed "Position" / "Days" / "Image URL" gets messages about those columns."""
    typed = {
        "CourseId": "course_id",
        "Title": "Title",
        "DisplayOrder": "Position",
        "UnlockType": "Unlock",
        "UnlockAfterDays": "Days",
        "NewImageUrl": "Image URL",
        "ClearImageFile": "Remove image",
    }
    sheet = make_sheet(
        [
            {"DisplayOrder": "x"},
            {"UnlockType": "Timed", "DisplayOrder": "5"},
            {
                "DisplayOrder": "5",
                "NewImageUrl": "https://img.example.com/a.png",
                "ClearImageFile": "yes",
            },
            {"UnlockType": "Sequential", "UnlockAfterDays": "3", "DisplayOrder": "9"},
        ],
        fields=tuple(typed),
    )
    sheet.raw = sheet.raw.rename(columns={BY_FIELD[f].header: h for f, h in typed.items()})
    sheet.columns = typed
    findings = validate_sheet(sheet).findings
    messages = dict(zip(findings["rule"], findings["message"], strict=True))
    assert messages["not_an_integer"].startswith("Position 'x' on row 2")
    assert "but Days is blank" in messages["timed_needs_days"]
    assert messages["display_order_duplicate"].startswith("Position 5 is used twice")
    assert "has an address in Image URL and Yes in Remove image" in messages["thumbnail_conflict"]
    assert messages["days_ignored"].startswith("Days 3 on row 5")


def test_timed_without_a_days_column_says_the_column_is_missing() -> None:
    sheet = make_sheet([{"UnlockType": "Timed"}], fields=REQUIRED_FIELDS)
    result = validate_sheet(sheet)
    assert found(result) == {("timed_needs_days", 2)}
    assert "has no Unlock after days column" in result.findings.at[0, "message"]


def test_streamed_json_is_the_summary_exactly() -> None:
    """write_summary_json writes the summary object in chunks (same JSON data)."""
    import io

    from importer.validate import write_summary_json

    result = validate_file(Path(__file__).resolve().parents[1] / "data" / "invalid_sections.csv")
    for chunk in (1, 3, 20_000):
        out = io.StringIO()
        write_summary_json(result, out, chunk=chunk)
        assert json.loads(out.getvalue()) == summary(result)
        assert out.getvalue().endswith("}\n") and out.getvalue().count("\n") == 1


def test_streamed_json_escapes_what_json_dumps_escapes(tmp_path: Path) -> None:
    """Quotes, backslashes, control characters and non-ASCII text in findings survive the
    vectorised JSON writer exactly as json.dumps would write them."""
    import io

    from importer.validate import write_summary_json

    sheet = tmp_path / "odd.csv"
    odd = ['"x"', "a\\b", "tab\there", "é ünï €", "bell\x07", "line\u2028sep"]
    lines = ["Course ID,Section title,Display order,Unlock type"]
    lines += [
        f'"1{text.replace(chr(34), chr(34) * 2)}",T{i},{i},Immediate' for i, text in enumerate(odd)
    ]
    sheet.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = validate_file(sheet)
    assert result.errors == len(odd)
    out = io.StringIO()
    write_summary_json(result, out, chunk=4)
    assert json.loads(out.getvalue()) == summary(result)
    assert [f["value"] for f in json.loads(out.getvalue())["findings"]] == ["1" + t for t in odd]
