"""Every row rule: a row that trips it and a near miss that does not (codes, not wording)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from importer.codes import Rule
from importer.columns import BY_FIELD, FIELDS
from importer.findings import Finding
from importer.read import Sheet
from importer.schema import is_safe_image_url, plain_safe, type_unknown, url_problems
from importer.validate import ValidationResult, validate_sheet

FIRST_ROW = 2


def make_sheet(
    rows: list[dict[str, str]],
    *,
    fields: tuple[str, ...] = FIELDS,
    source_rows: list[int] | None = None,
    findings: list[Finding] | None = None,
) -> Sheet:
    """A Sheet as read.py builds it: friendly headers, str cells, source_row from 2.

    Missing cells default to a valid Immediate section of course 101 whose DisplayOrder and
    Title follow the row's position (so rows are valid unless a test says otherwise).
    """
    table: dict[str, list[str]] = {BY_FIELD[f].header: [] for f in fields}
    for position, row in enumerate(rows, start=1):
        defaults = {
            "CourseId": "101",
            "Title": f"Section {position}",
            "DisplayOrder": str(position),
            "UnlockType": "Immediate",
        }
        for field in fields:
            table[BY_FIELD[field].header].append(row.get(field, defaults.get(field, "")))
    raw = pd.DataFrame(table).astype("str")
    raw.insert(0, "source_row", source_rows or list(range(FIRST_ROW, FIRST_ROW + len(rows))))
    return Sheet(
        raw=raw,
        columns={f: BY_FIELD[f].header for f in fields},
        unknown=[],
        findings=findings or [],
        path=Path("sections.csv"),
        format="csv",
        encoding="utf-8",
        delimiter=",",
    )


def found(result: ValidationResult) -> set[tuple[str, int | None]]:
    rows = result.findings["source_row"].astype(object).where(result.findings["source_row"].notna())
    return {
        (rule, None if pd.isna(row) else int(row))
        for rule, row in zip(result.findings["rule"], rows, strict=True)
    }


def rules(result: ValidationResult) -> set[str]:
    return set(result.findings["rule"])


S, T = "Sequential", "Timed"

# (rule, rows that trip it, source rows flagged, near-miss rows that must not trip it)
CASES = [
    (Rule.REQUIRED, [{}, {"CourseId": ""}], [3], [{}, {"CourseId": "5"}]),
    (Rule.REQUIRED, [{}, {"Title": "   "}], [3], [{}, {"Title": " x "}]),
    (Rule.REQUIRED, [{}, {"DisplayOrder": ""}], [3], [{}, {"DisplayOrder": "0"}]),
    (Rule.REQUIRED, [{}, {"UnlockType": " "}], [3], [{}, {"UnlockType": "2"}]),
    (Rule.OUT_OF_RANGE, [{"CourseId": "0"}], [2], [{"CourseId": "1"}]),
    (Rule.OUT_OF_RANGE, [{"DisplayOrder": "-1"}], [2], [{"DisplayOrder": "0"}]),
    (Rule.OUT_OF_RANGE, [{"UnlockType": T, "UnlockAfterDays": "3651"}], [2],
     [{"UnlockType": T, "UnlockAfterDays": "3650"}]),
    (Rule.OUT_OF_RANGE, [{"UnlockType": T, "UnlockAfterDays": "-1"}], [2],
     [{"UnlockType": T, "UnlockAfterDays": "1"}]),
    (Rule.NOT_AN_INTEGER, [{"DisplayOrder": "2.5"}], [2], [{"DisplayOrder": "2.0"}]),
    (Rule.NOT_AN_INTEGER, [{"CourseId": "1e3"}], [2], [{"CourseId": " 1000 "}]),
    (Rule.NOT_A_BOOLEAN, [{"Active": "maybe"}], [2], [{"Active": "Y"}]),
    (Rule.INVALID_UNLOCK_TYPE, [{"UnlockType": "4"}], [2], [{"UnlockType": "immediate"}]),
    (Rule.TIMED_NEEDS_DAYS, [{"UnlockType": T}], [2], [{"UnlockType": T, "UnlockAfterDays": "3"}]),
    (Rule.DISPLAY_ORDER_DUPLICATE, [{"DisplayOrder": "1"}, {}, {"DisplayOrder": "1"}], [2, 4],
     [{"DisplayOrder": "1"}, {"DisplayOrder": "1", "CourseId": "102"}]),
    (Rule.INVALID_THUMBNAIL_URL, [{"NewImageUrl": "ftp://img.example.com/a.png"}], [2],
     [{"NewImageUrl": "https://img.example.com/a.png"}]),
    (Rule.THUMBNAIL_CONFLICT,
     [{"NewImageUrl": "https://img.example.com/a.png", "ClearImageFile": "yes"}], [2],
     [{"NewImageUrl": "https://img.example.com/a.png", "ClearImageFile": "no"},
      {"ClearImageFile": "yes"}]),
    (Rule.DAYS_IGNORED, [{"UnlockAfterDays": "5"}], [2],
     [{"UnlockAfterDays": "0"}, {"UnlockType": T, "UnlockAfterDays": "5"}]),
    (Rule.SEQUENTIAL_FIRST, [{"DisplayOrder": "5"}, {"DisplayOrder": "2", "UnlockType": S}], [3],
     [{"DisplayOrder": "1"}, {"DisplayOrder": "2", "UnlockType": S}]),
    (Rule.DUPLICATE_TITLE, [{"Title": "Café"}, {}, {"Title": " CAFE\u0301 "}], [2, 4],
     [{"Title": "Café"}, {"Title": "Cafe"}, {"Title": "Café", "CourseId": "102"}]),
    (Rule.TIMED_ZERO_DAYS, [{"UnlockType": T, "UnlockAfterDays": "0"}], [2],
     [{"UnlockType": T, "UnlockAfterDays": "1"}]),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "rows", "flagged", "near_miss"), CASES)
def test_rule_trips_and_near_miss_does_not(
    rule: Rule, rows: list[dict[str, str]], flagged: list[int], near_miss: list[dict[str, str]]
) -> None:
    """The rule flags exactly the rows that break it; the near miss stays clean of it."""
    result = validate_sheet(make_sheet(rows))
    assert {row for r, row in found(result) if r == rule} == set(flagged)
    assert rule not in rules(validate_sheet(make_sheet(near_miss)))


def test_every_rule_is_covered_by_a_case() -> None:
    """Each row rule of the schema and the normaliser has a trip/near-miss case above."""
    row_rules = {
        Rule.REQUIRED, Rule.OUT_OF_RANGE, Rule.NOT_AN_INTEGER, Rule.NOT_A_BOOLEAN,
        Rule.INVALID_UNLOCK_TYPE, Rule.TIMED_NEEDS_DAYS, Rule.DISPLAY_ORDER_DUPLICATE,
        Rule.INVALID_THUMBNAIL_URL, Rule.THUMBNAIL_CONFLICT, Rule.DAYS_IGNORED,
        Rule.SEQUENTIAL_FIRST, Rule.DUPLICATE_TITLE, Rule.TIMED_ZERO_DAYS,
    }  # fmt: skip
    assert {case[0] for case in CASES} == row_rules


def test_duplicate_messages_name_every_row_of_the_group() -> None:
    result = validate_sheet(make_sheet([{"DisplayOrder": "3"}, {}, {"DisplayOrder": "3"}]))
    messages = result.findings.loc[result.findings["rule"] == Rule.DISPLAY_ORDER_DUPLICATE]
    assert len(messages) == 2
    assert all("2" in m and "4" in m and "101" in m for m in messages["message"])


def test_findings_carry_typed_header_and_original_text() -> None:
    """column is the header as typed, value the cell text as read (not the typed value)."""
    sheet = make_sheet([{"DisplayOrder": " -1 "}])
    sheet.raw = sheet.raw.rename(columns={"Display order": "ORDER"})
    sheet.columns["DisplayOrder"] = "ORDER"
    row = validate_sheet(sheet).findings.iloc[0]
    assert (row["rule"], row["column"], row["field"], row["value"]) == (
        Rule.OUT_OF_RANGE, "ORDER", "DisplayOrder", " -1 ",
    )  # fmt: skip


def test_a_bad_value_does_not_hide_other_checks() -> None:
    """An unparseable course id is reported once (no `required` too); the blank title still is."""
    result = validate_sheet(
        make_sheet([{"CourseId": "abc", "Title": "", "UnlockType": T, "UnlockAfterDays": "x"}])
    )
    fields = sorted(zip(result.findings["rule"], result.findings["field"], strict=True))
    assert fields == [
        (Rule.NOT_AN_INTEGER, "CourseId"),
        (Rule.NOT_AN_INTEGER, "UnlockAfterDays"),
        (Rule.REQUIRED, "Title"),
    ]


def test_source_rows_follow_the_sheet_not_the_index() -> None:
    """Rows keep the spreadsheet's numbers (blank rows dropped leave gaps)."""
    sheet = make_sheet([{}, {"CourseId": "0"}, {"Active": "?"}], source_rows=[5, 9, 12])
    sheet.raw.index = [100, 7, 3]
    result = validate_sheet(sheet)
    assert found(result) == {(Rule.OUT_OF_RANGE, 9), (Rule.NOT_A_BOOLEAN, 12)}


@pytest.mark.parametrize(
    "url",
    [
        "https://img.example.com/a.png",
        "http://img.example.com/path/a.JPG",
        "https://img.example.com/a.jpeg?size=large&v=2",
        "https://cdn.example.com:8443/x/y.gif",
        "http://8.8.8.8/a.png",
        "https://[2001:4860:4860::8888]/a.png",
    ],
)
def test_safe_image_urls(url: str) -> None:
    assert is_safe_image_url(url) is None


@pytest.mark.parametrize(
    "url",
    [
        "img.example.com/a.png",  # not absolute
        "https:///a.png",  # no host
        "https://user:secret@img.example.com/a.png",
        "https://user@img.example.com/a.png",
        "file:///etc/a.png",
        "ftp://img.example.com/a.png",
        "data:image/png;base64,AAAA.png",
        "javascript:alert(1)//a.png",
        "https://img.example.com/a.txt?x=.png",
        "https://img.example.com/a.png.html",
        "https://img.example.com/brochure.PDF",
        "http://127.0.0.1/a.png",
        "http://localhost/a.png",
        "http://app.localhost/a.png",
        "http://10.1.2.3/a.png",
        "http://192.168.0.1/a.png",
        "http://169.254.169.254/a.png",
        "http://0.0.0.0/a.png",
        "http://[::1]/a.png",
        "http://[::ffff:10.0.0.1]/a.png",
        "http://[fe80::1]/a.png",
        "http://2130706433/a.png",  # 127.0.0.1 as one number
        "http://0x7f.1/a.png",
        "http://240.0.0.1/a.png",  # reserved
        "https://img.example.com/a b.png",
        "https://img.example.com:99999/a.png",
        "http://[::1/a.png",
    ],
)
def test_unsafe_image_urls(url: str) -> None:
    assert is_safe_image_url(url) is not None


@pytest.mark.parametrize(
    "url",
    ["https://cdn.example.com/img/12345", "https://img.example.com/a", "https://x.io/p.php?id=3"],
)
def test_url_without_an_image_extension_is_accepted_but_its_type_unknown(url: str) -> None:
    """A CDN address without an extension may be an image: only the online check can tell."""
    assert is_safe_image_url(url) is None
    flags = type_unknown(pd.Series([url, "https://img.example.com/a.png", None]))
    assert flags.tolist() == [True, False, False]


@pytest.mark.parametrize(
    "url", ["http://100.64.0.1/a.png", "http://[2002:7f00:1::1]/a.png", "http://[2001::1]/a.png"]
)
def test_shared_and_tunnel_addresses_are_not_global(url: str) -> None:
    assert is_safe_image_url(url) is not None


def test_allow_hosts_exempts_only_the_private_address_rule() -> None:
    assert is_safe_image_url("http://127.0.0.1:8000/a.png", allow_hosts={"127.0.0.1"}) is None
    assert is_safe_image_url("http://127.0.0.1:8000/a.txt", allow_hosts={"127.0.0.1"})
    assert is_safe_image_url("http://10.0.0.1/a.png", allow_hosts={"127.0.0.1"})


url_parts = st.tuples(
    st.sampled_from(["http", "https", "HTTP", "ftp", "file", "javascript", ""]),
    st.sampled_from(["://", ":", "//", ":///"]),
    st.sampled_from(
        [
            "img.example.com",
            "localhost",
            "a.localhost",
            "127.0.0.1",
            "0x7f.1",
            "user:pw@x.com",
            "x.com:80",
            "10.0.0.1",
            "[::1]",
            "a.b-c.io",
            "a..b",
            "x.com.",
            "0.0",
            "xn--bcher-kva.de",
        ]
    ),  # fmt: skip
    st.text(alphabet="/abc.%?#=& \n@:", max_size=12),
    st.sampled_from([".png", ".JPG", ".jpeg", ".gif", ".txt", ""]),
    st.sampled_from(["", "?a=1", "?x=.png", "#f", "?a b"]),
)


@given(url_parts)
@settings(max_examples=500, deadline=None)
def test_fast_path_only_accepts_urls_the_rule_accepts(parts: tuple[str, ...]) -> None:
    """The vectorised fast path never lets through a URL that is_safe_image_url rejects."""
    url = "".join(parts)
    if plain_safe(pd.Series([url], dtype="str"))[0]:
        assert is_safe_image_url(url) is None


def test_url_problems_agrees_with_the_rule_including_newlines() -> None:
    urls = pd.Series(
        [
            "https://a.com/x.png",
            None,
            "https://a.com/x.png\nhttps://b.com/y.png",
            "http://[::1]/a.gif",
        ],
        dtype="str",
    )
    problems = url_problems(urls)
    assert problems.isna().tolist() == [True, True, False, False]


@given(
    st.sampled_from(["http://", "https://", "HTTPS://"]),
    st.text(alphabet="0123456789abcdefxlohst.-:[]", min_size=1, max_size=16),
    st.sampled_from(["/a.png", "/b/c.JPEG?x=1", "/a.gif"]),
)
@settings(max_examples=500, deadline=None)
def test_fast_path_agrees_on_odd_hosts(scheme: str, host: str, path: str) -> None:
    """Numeric, hex and localhost-like host names never slip through the fast path."""
    url = scheme + host + path
    if plain_safe(pd.Series([url], dtype="str"))[0]:
        assert is_safe_image_url(url) is None


@given(st.text(max_size=40))
@settings(max_examples=300, deadline=None)
def test_url_rule_never_raises(text: str) -> None:
    assert is_safe_image_url(text) is None or isinstance(is_safe_image_url(text), str)
