"""The row rules: one Pandera model over the typed table, and the thumbnail URL rules.

`CourseSection` is the one place where the business rules for a row (and for rows of the same
course) live. Each check is named with its `importer.codes.Rule` value (or listed in
RENAMED_CHECKS), so a failure maps straight to a finding. Checks are vectorised (no
element-wise checks); `schema_failures` lets pandera check the columns and dtypes and reads
the checks' boolean results itself, so a million failing rows cost no more than a million
passing ones (benchmarks/bench_reading.py).

`is_safe_image_url` is the one definition of an acceptable thumbnail address; the schema and
`importer.thumbnails` (which re-checks every redirect hop) both call it.
"""

from __future__ import annotations

import copy
import ipaddress
import re
import socket
import unicodedata
from collections.abc import Collection
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from importer.codes import Rule
from importer.columns import SEQUENTIAL, TIMED, course_name_key

MAX_UNLOCK_DAYS = 3650
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".gif")
_BANNED_SCHEMES = frozenset({"file", "ftp", "data", "javascript"})
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
#: Extensions of files that are surely not a JPG, PNG or GIF image (an error offline); any
#: other extension, or none, is a warning: only the online check can tell.
NON_IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    [
        ".pdf",
        ".doc",
        ".docx",
        ".xls",
        ".xlsx",
        ".csv",
        ".ppt",
        ".pptx",
        ".txt",
        ".rtf",
        ".html",
        ".htm",
        ".xml",
        ".json",
        ".js",
        ".css",
        ".zip",
        ".gz",
        ".rar",
        ".7z",
        ".mp3",
        ".wav",
        ".mp4",
        ".mov",
        ".avi",
        ".webm",
        ".svg",
        ".webp",
        ".bmp",
        ".tif",
        ".tiff",
        ".heic",
        ".ico",
        ".psd",
        ".exe",
        ".dmg",
    ]
)
#: Hosts that may be IP literals: IPv6 (has ":") or numeric IPv4 forms ("127.1", "0x7f.1").
_MAYBE_IP = re.compile(r".*:.*|[0-9a-fx.]+")

#: The field each table-wide (dataframe) rule is reported against.
DATAFRAME_RULE_FIELDS: dict[str, str] = {
    Rule.TIMED_NEEDS_DAYS: "UnlockAfterDays",
    Rule.DISPLAY_ORDER_DUPLICATE: "DisplayOrder",
    Rule.THUMBNAIL_CONFLICT: "NewImageUrl",
    Rule.DAYS_IGNORED: "UnlockAfterDays",
    Rule.SEQUENTIAL_FIRST: "UnlockType",
    Rule.DUPLICATE_TITLE: "Title",
    Rule.TIMED_ZERO_DAYS: "UnlockAfterDays",
    Rule.SYSTEM_ID_DUPLICATE: "SystemId",
    Rule.TEMPLATE_EXAMPLE: "Example",
    Rule.COURSE_NEEDS_SERVER: "CourseName",
}
#: Checks named apart from their rule (a name is one check): check name -> (rule, field).
RENAMED_CHECKS: dict[str, tuple[Rule, str]] = {"course_required": (Rule.REQUIRED, "CourseId")}


def unsafe_address(host: str) -> str | None:
    """Why an IP-literal host is not allowed (None when it is a public address or a name)."""
    if not _MAYBE_IP.fullmatch(host):
        return None
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(host)
    except ValueError:
        try:  # legacy numeric forms ("127.1", "2130706433", "0x7f.1") that resolvers accept
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except (OSError, ValueError):
            return None
    return None if is_global_address(address) else "points at a private or local network address"


def is_global_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Globally routable (`ipaddress` is_global), looking inside IPv6 forms that carry an
    IPv4 address (mapped, 6to4 2002::/16, Teredo): 100.64.0.0/10, 2002::/16, link-local,
    loopback and private ranges are all refused."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_global_address(address.ipv4_mapped)
        if address in _SIX_TO_FOUR or address.teredo is not None:
            return False  # tunnels reach whatever IPv4 address they embed
    return bool(address.is_global) and not address.is_multicast


def path_extension(path: str) -> str:
    """The lower-cased extension of a URL path's last segment ("" when it has none)."""
    last = path.rsplit("/", 1)[-1]
    dot = last.rfind(".")
    return last[dot:].lower() if dot > 0 else ""


def is_safe_image_url(url: str, *, allow_hosts: Collection[str] = ()) -> str | None:
    """Why `url` is not an acceptable thumbnail address, or None when it is.

    Accepted: an absolute http(s) URL with a host, no user name or password, no private or
    local IP literal, whose path does not end in a known non-image extension such as .pdf
    (case and query ignored; `type_unknown` tells which accepted URLs lack .jpg, .jpeg,
    .png or .gif).
    `allow_hosts` exempts named hosts from the private-address rule (tests use 127.0.0.1).
    """
    text = url.strip()
    if not text or _SPACE_OR_CONTROL.search(text):
        return "is not a web address (it is blank or contains spaces)"
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "is not a valid web address"
    scheme = parts.scheme.lower()
    if scheme in _BANNED_SCHEMES:
        return f"uses the {scheme}: scheme, which is not allowed"
    if scheme not in ("http", "https"):
        return "is not an absolute http or https address"
    if not host:
        return "has no host name"
    if parts.username is not None or parts.password is not None:
        return "contains a user name or password"
    extension = path_extension(parts.path)
    if extension in NON_IMAGE_EXTENSIONS:
        return f"ends in {extension}, which is not a JPG, PNG or GIF image"
    if host in allow_hosts:
        return None
    bare = host.rstrip(".")
    if bare == "localhost" or bare.endswith(".localhost"):
        return "points at a private or local network address"
    return unsafe_address(bare)


#: Python's whitespace beyond space and the ASCII controls, written out: the pattern below
#: runs in Arrow's RE2 (whose \s is ASCII only) as well as in Python's re.
_UNICODE_SPACES = "\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: A fast path, never a rule: URLs of this plain shape (http(s), a DNS name whose last label
#: starts with a letter, an optional short port, a simple path ending in an image extension,
#: an optional query) and not mentioning localhost always pass `is_safe_image_url` (a
#: Hypothesis test holds it to that), so only the other URLs need the per-URL function.
#: No backtracking constructs: it runs as one vectorised kernel over a column.
PLAIN_SAFE_URL = (
    r"[hH][tT][tT][pP][sS]?://"
    r"(?:[a-zA-Z0-9-]+\.)+[a-zA-Z][a-zA-Z0-9-]*"
    r"(?::[0-9]{1,4})?"
    r"/[a-zA-Z0-9._~/%!$&'()*+,;=:-]*"
    r"\.(?:[pP][nN][gG]|[gG][iI][fF]|[jJ][pP][gG]|[jJ][pP][eE][gG])"
    r"(?:\?[^ #\x00-\x1f\x7f" + _UNICODE_SPACES + r"]*)?"
)


def plain_safe(urls: pd.Series) -> np.ndarray:
    """Per URL: True when it has the plain shape (so it is acceptable without the per-URL
    function); NA is False."""
    present = urls.notna().to_numpy(dtype=bool)
    shaped = urls.str.fullmatch(PLAIN_SAFE_URL).fillna(False).to_numpy(dtype=bool)
    local = urls.str.lower().str.contains("localhost", regex=False)
    return present & shaped & ~local.fillna(False).to_numpy(dtype=bool)


#: While `schema_failures` runs, the URL column's array and its `plain_safe` mask: two
#: checks read the same column, and one pass over a million URLs is enough.
_PLAIN_MEMO: list[tuple[object, np.ndarray]] = []


def _plain_mask(urls: pd.Series) -> np.ndarray:
    """`plain_safe(urls)`, remembered for the column being validated."""
    for array, mask in _PLAIN_MEMO:
        if array is urls.array:
            return mask
    mask = plain_safe(urls)
    if _PLAIN_MEMO:  # schema_failures is running: remember it for the other check
        _PLAIN_MEMO.append((urls.array, mask))
    return mask


def url_problems(urls: pd.Series, *, allow_hosts: Collection[str] = ()) -> pd.Series:
    """`is_safe_image_url` over a Series, once per distinct URL (NA for blank or safe)."""
    others = urls[~_plain_mask(urls)].dropna()
    if others.empty:
        return pd.Series(pd.NA, index=urls.index, dtype="str")
    reasons = {url: is_safe_image_url(url, allow_hosts=allow_hosts) for url in pd.unique(others)}
    return others.map(reasons).reindex(urls.index)


def type_unknown(urls: pd.Series) -> pd.Series:
    """True where an acceptable URL has no .jpg, .jpeg, .png or .gif extension, so only the
    online check (--check-thumbnails) can tell whether it is an image."""
    unknown = pd.Series(False, index=urls.index)
    others = urls[~_plain_mask(urls)].dropna()
    if not others.empty:
        flags = [_type_unknown_one(url) for url in others.tolist()]
        unknown.loc[others.index[np.array(flags, dtype=bool)]] = True
    return unknown


def _type_unknown_one(url: str) -> bool:
    try:
        extension = path_extension(urlsplit(url.strip()).path)
    except ValueError:
        return False  # not a URL: invalid_thumbnail_url says so
    return extension not in IMAGE_EXTENSIONS and is_safe_image_url(url) is None


def title_key(title: str) -> str:
    """Titles are compared trimmed (already), NFC-normalised and case-insensitively."""
    return unicodedata.normalize("NFC", title).casefold()


def _title_keys(titles: pd.Series) -> pd.Series:
    """`title_key` of every title: ASCII titles (the usual case) by one vectorised lower,
    where NFC changes nothing and casefold is lower; the others one by one."""
    keys = titles.str.lower()
    other = (titles.notna() & ~titles.str.isascii().fillna(True)).to_numpy(dtype=bool)
    if other.any():
        rest = titles[other]
        folded = [title_key(title) for title in rest.tolist()]
        keys = keys.where(~other, pd.Series(folded, index=rest.index, dtype="str"))
    return keys


def course_keys(df: pd.DataFrame) -> pd.Series:
    """Which course each row belongs to, as far as the sheet alone can tell: the Course ID
    (as "#101" when some rows name their course instead), else "name:" + the trimmed,
    case-folded Course name, else NA."""
    ids = df["CourseId"]
    by_name = df["CourseName"].notna() & ids.isna()
    if not by_name.any():  # the usual sheet: ids only
        return ids
    keys = pd.Series(None, index=df.index, dtype=object)
    has_id = ids.notna()
    keys[has_id] = ["#" + str(i) for i in ids[has_id].tolist()]
    keys[by_name] = ["name:" + course_name_key(n) for n in df.loc[by_name, "CourseName"].tolist()]
    return keys


class CourseSection(pa.DataFrameModel):
    """One spreadsheet row per section, typed by `importer.normalise` (NA: blank or bad).

    Dataframe checks handle NA themselves (ignore_na=False): pandera's NA handling would only
    spare rows whose every cell is NA, which never happen (source_row is always set), and
    costs a whole-table isna per check.
    """

    source_row: Series[np.int64]
    CourseId: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    CourseName: Series[str] = pa.Field(nullable=True)
    Title: Series[str] = pa.Field(nullable=True)
    DisplayOrder: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    UnlockType: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    UnlockAfterDays: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    SectionContents: Series[str] = pa.Field(nullable=True)
    Active: Series[pd.BooleanDtype] = pa.Field(nullable=True)
    NewImageUrl: Series[str] = pa.Field(nullable=True)
    ClearImageFile: Series[pd.BooleanDtype] = pa.Field(nullable=True)
    SystemId: Series[str] = pa.Field(nullable=True)
    Example: Series[pd.BooleanDtype] = pa.Field(nullable=True)

    class Config:
        #: No coercion: normalise.py already typed every cell and turned unparseable text into
        #: findings with row numbers; a coercion failure here would lose that.
        coerce = False
        #: The typed table holds exactly these columns (absent optional columns are all NA).
        strict = True
        name = "CourseSection"

    # --- errors ---

    # A section needs a title, a position and an unlock rule...
    @pa.check("Title", "DisplayOrder", "UnlockType", name=str(Rule.REQUIRED), ignore_na=False)
    def required(cls, values: pd.Series[Any]) -> pd.Series[bool]:
        return values.notna()

    # ...and its course: the Course ID, or the course's name (resolved at plan time).
    @pa.dataframe_check(name="course_required", ignore_na=False)
    def course_required(cls, df: pd.DataFrame) -> pd.Series[bool]:
        return df["CourseId"].notna() | df["CourseName"].notna()

    # Course ids start at 1.
    @pa.check("CourseId", name=str(Rule.OUT_OF_RANGE))
    def course_id_positive(cls, values: pd.Series[Any]) -> pd.Series[bool]:
        return values >= 1

    # Display orders are positions: 0 or more.
    @pa.check("DisplayOrder", name=str(Rule.OUT_OF_RANGE))
    def display_order_not_negative(cls, values: pd.Series[Any]) -> pd.Series[bool]:
        return values >= 0

    # A section opens between 0 and 3650 days (ten years) after enrolment.
    @pa.check("UnlockAfterDays", name=str(Rule.OUT_OF_RANGE))
    def days_in_range(cls, values: pd.Series[Any]) -> pd.Series[bool]:
        return values.between(0, MAX_UNLOCK_DAYS)

    # A thumbnail must be a public http(s) JPG, PNG or GIF address (see is_safe_image_url).
    @pa.check("NewImageUrl", name=str(Rule.INVALID_THUMBNAIL_URL))
    def thumbnail_url_safe(cls, urls: pd.Series[Any]) -> pd.Series[bool]:
        return url_problems(urls).isna()

    # A Timed section must say after how many days it opens.
    @pa.dataframe_check(name=str(Rule.TIMED_NEEDS_DAYS), ignore_na=False)
    def timed_needs_days(cls, df: pd.DataFrame) -> pd.Series[bool]:
        return ~(df["UnlockType"].eq(TIMED).fillna(False) & df["UnlockAfterDays"].isna())

    # Two sections of one course cannot share a position (every row involved is flagged).
    @pa.dataframe_check(name=str(Rule.DISPLAY_ORDER_DUPLICATE), ignore_na=False)
    def display_order_unique(cls, df: pd.DataFrame) -> pd.Series[bool]:
        pairs = pd.DataFrame({"course": course_keys(df), "order": df["DisplayOrder"]})
        keyed = pairs["course"].notna() & df["DisplayOrder"].notna()
        return ~(keyed & pairs.duplicated(keep=False))

    # A System ID names one section: twice in one course cannot be matched (upsert key).
    @pa.dataframe_check(name=str(Rule.SYSTEM_ID_DUPLICATE), ignore_na=False)
    def system_id_unique_in_course(cls, df: pd.DataFrame) -> pd.Series[bool]:
        if not df["SystemId"].notna().any():
            return pd.Series(True, index=df.index)
        pairs = pd.DataFrame({"course": course_keys(df), "id": df["SystemId"]})
        keyed = pairs["course"].notna() & df["SystemId"].notna()
        return ~(keyed & pairs.duplicated(keep=False))

    # The template's example rows must not be imported by accident.
    @pa.dataframe_check(name=str(Rule.TEMPLATE_EXAMPLE), ignore_na=False)
    def not_an_example(cls, df: pd.DataFrame) -> pd.Series[bool]:
        return ~df["Example"].fillna(False).astype(bool)

    # Setting a thumbnail and removing it on the same row contradict each other.
    @pa.dataframe_check(name=str(Rule.THUMBNAIL_CONFLICT), ignore_na=False)
    def thumbnail_or_remove(cls, df: pd.DataFrame) -> pd.Series[bool]:
        return ~(df["NewImageUrl"].notna() & df["ClearImageFile"].fillna(False))

    # --- warnings ---

    # Days only matter for Timed sections; a positive number elsewhere is probably a mistake.
    @pa.dataframe_check(name=str(Rule.DAYS_IGNORED), ignore_na=False)
    def days_only_when_timed(cls, df: pd.DataFrame) -> pd.Series[bool]:
        not_timed = df["UnlockType"].notna() & df["UnlockType"].ne(TIMED).fillna(False)
        return ~(not_timed & df["UnlockAfterDays"].gt(0).fillna(False))

    # The first section of a course has no previous section to complete.
    @pa.dataframe_check(name=str(Rule.SEQUENTIAL_FIRST), ignore_na=False)
    def first_not_sequential(cls, df: pd.DataFrame) -> pd.Series[bool]:
        courses = course_keys(df)
        first_order = df["DisplayOrder"].groupby(courses).transform("min")
        first = df["DisplayOrder"].eq(first_order) & courses.notna()
        return ~(first.fillna(False) & df["UnlockType"].eq(SEQUENTIAL).fillna(False))

    # Two sections of one course with the same title are probably a copy-paste slip.
    @pa.dataframe_check(name=str(Rule.DUPLICATE_TITLE), ignore_na=False)
    def title_unique_in_course(cls, df: pd.DataFrame) -> pd.Series[bool]:
        pairs = pd.DataFrame({"course": course_keys(df), "title": _title_keys(df["Title"])})
        keyed = pairs["course"].notna() & df["Title"].notna()
        return ~(keyed & pairs.duplicated(keep=False))

    # A course given only by name is looked up on the server when the import is planned.
    @pa.dataframe_check(name=str(Rule.COURSE_NEEDS_SERVER), ignore_na=False)
    def course_known_offline(cls, df: pd.DataFrame) -> pd.Series[bool]:
        return ~(df["CourseId"].isna() & df["CourseName"].notna())

    # A URL without an image extension (a CDN address) may well be an image: check online.
    @pa.check("NewImageUrl", name=str(Rule.THUMBNAIL_TYPE_UNKNOWN))
    def thumbnail_type_known(cls, urls: pd.Series[Any]) -> pd.Series[bool]:
        return ~type_unknown(urls)

    # Timed with 0 days opens at once: Immediate says so more clearly.
    @pa.dataframe_check(name=str(Rule.TIMED_ZERO_DAYS), ignore_na=False)
    def timed_not_zero(cls, df: pd.DataFrame) -> pd.Series[bool]:
        return ~(
            df["UnlockType"].eq(TIMED).fillna(False) & df["UnlockAfterDays"].eq(0).fillna(False)
        )


def _structure_only() -> pa.DataFrameSchema:
    """CourseSection without its checks: pandera checks columns and dtypes, and the checks
    are evaluated by `schema_failures` itself (see there)."""
    schema = copy.deepcopy(CourseSection.to_schema())
    schema.checks = []
    for column in schema.columns.values():
        column.checks = []
    return schema


_STRUCTURE: pa.DataFrameSchema | None = None


def schema_failures(table: pd.DataFrame) -> pd.DataFrame:
    """Run every check of CourseSection; one row per (table index, rule, field) that failed.

    pandera validates the table's columns and dtypes; the checks (the model's own functions)
    are then called here and their boolean results read directly, because pandera's failure
    cases (one per column of every failing row of a dataframe check) cost seconds per
    100,000 failing rows. NA passes a column check unless it says ignore_na=False, as in
    pandera.
    """
    global _STRUCTURE
    if _STRUCTURE is None:
        _STRUCTURE = _structure_only()
    _PLAIN_MEMO[:] = [(None, np.zeros(0, dtype=bool))]  # placeholder: memoise while checks run
    try:
        return _run_checks(table, _STRUCTURE)
    finally:
        _PLAIN_MEMO.clear()


def _run_checks(table: pd.DataFrame, structure: pa.DataFrameSchema) -> pd.DataFrame:
    """The body of `schema_failures` (which sets up and clears the URL memo around it)."""
    try:
        structure.validate(table, lazy=True)
    except pa.errors.SchemaErrors as errors:  # a bug in normalise.py, not a data problem
        raise RuntimeError(f"typed table does not match the schema: {errors}") from None
    schema = CourseSection.to_schema()
    fields = DATAFRAME_RULE_FIELDS | {name: f for name, (_, f) in RENAMED_CHECKS.items()}
    rules = {name: str(rule) for name, (rule, _) in RENAMED_CHECKS.items()}
    failing: dict[tuple[str, str], list[np.ndarray]] = {}  # (rule, field) -> table indexes

    def record(check: Any, passed: pd.Series, field: str) -> None:
        name = str(check.name)
        if name not in fields and name not in set(Rule):
            raise RuntimeError(f"check {name!r} has no rule code")
        failed = table.index[~passed.to_numpy(dtype=bool)]
        if len(failed):
            key = (rules.get(name, name), field)
            failing.setdefault(key, []).append(failed.to_numpy(dtype="int64"))

    for column_name, column in schema.columns.items():
        values = table[column_name]
        for check in column.checks:
            result = pd.Series(check._check_fn(values), index=table.index).astype("boolean")
            if check.ignore_na:
                result = result.fillna(True) | values.isna()
            record(check, result.fillna(False), str(column_name))
    for check in schema.checks:
        result = pd.Series(check._check_fn(table), index=table.index).astype("boolean")
        name = str(check.name)
        record(check, result.fillna(False), fields.get(name, ""))
    # each (rule, field) once per row; rule and field as Python objects: repeated names
    indexes = [f[0] if len(f) == 1 else np.unique(np.concatenate(f)) for f in failing.values()]
    counts = [len(found) for found in indexes]
    return pd.DataFrame(
        {
            "index": np.concatenate(indexes) if indexes else np.empty(0, dtype="int64"),
            "rule": pd.Series(
                np.repeat(np.array([r for r, _ in failing], object), counts), dtype=object
            ),
            "field": pd.Series(
                np.repeat(np.array([f for _, f in failing], object), counts), dtype=object
            ),
        }
    )
