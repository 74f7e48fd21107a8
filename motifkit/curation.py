"""Literature curation: find STEM/STM image papers in a local arXiv metadata dump.

AtomVision searched the open arXiv metadata (the Kaggle ``arxiv-metadata-oai-snapshot``
JSON-lines file) for microscopy keywords in abstracts and figure captions to curate image
data sets. This module does the same offline, on a file you downloaded yourself:

* :func:`iter_arxiv_records` streams records from ``.jsonl`` / ``.jsonl.gz`` files and
  counts (never silently drops) malformed lines;
* :class:`CurationQuery` says what to look for: keywords to include and exclude, phrases to
  ignore, categories, years and which fields to search;
* :func:`filter_arxiv` returns the matching records with which keyword matched where;
* :func:`summarise` counts matches per keyword, category, year and field;
* :func:`write_jsonl` saves a selection.

Matching rules
    Keywords match whole words only (``STM`` does not match ``STM32`` or
    ``STMicroelectronics``, ``STEM`` does not match ``stems``). Acronyms (keywords written in
    capitals, like ``STEM`` or ``HAADF``) are matched case-sensitively by default, so that
    the verb in "these effects stem from" and "Stem cells" are not taken for the microscope;
    an optional plural ``s`` is allowed (``STMs``). Other keywords are phrases matched
    case-insensitively, with any run of spaces or hyphens between words ("scanning
    tunneling" matches "Scanning-tunneling"). ``ignore`` phrases are blanked out before
    matching ("STEM education" does not count, but "a STEM detector" in the same abstract
    still does); any ``exclude`` keyword rejects the record.

Examples
--------
>>> from motifkit.curation import filter_arxiv, sample_path, summarise
>>> hits = filter_arxiv(sample_path())
>>> hits[0]["id"], hits[0]["matches"]["STEM"]
('2101.90001', ['title', 'abstract', 'captions[0]'])
>>> summarise(hits)["n_records"]
15
"""

from __future__ import annotations

import email.utils
import gzip
import importlib.resources
import json
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CorruptFileError, FileFormatError, MissingFileError, ParameterError

__all__ = [
    "STEM_STM_QUERY",
    "CurationQuery",
    "CurationWarning",
    "default_query",
    "filter_arxiv",
    "iter_arxiv_records",
    "match_record",
    "record_year",
    "sample_path",
    "summarise",
    "write_jsonl",
]

#: Fields that can be searched; ``captions`` is an optional list of figure captions.
SEARCHABLE_FIELDS = ("title", "abstract", "captions", "comments")


class CurationWarning(UserWarning):
    """Some lines of an arXiv dump were malformed and skipped (the count is in the message)."""


def sample_path() -> Path:
    """Path of the bundled 30-record synthetic sample (``motifkit/data/arxiv_sample.jsonl``).

    The records follow the Kaggle arXiv metadata format plus an optional ``captions`` list;
    they are invented for tests and examples, not real papers.
    """
    return Path(str(importlib.resources.files("motifkit.data") / "arxiv_sample.jsonl"))


# --------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------
def _open(path: Path):
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def iter_arxiv_records(path, *, strict: bool = False, stats: dict | None = None) -> Iterator[dict]:
    """Stream the records of an arXiv metadata dump (JSON lines, optionally gzipped).

    Parameters
    ----------
    path : str or Path
        ``*.jsonl``, ``*.json`` (one object per line, as the Kaggle snapshot) or ``*.gz``.
    strict : bool
        Raise :class:`CorruptFileError` at the first malformed line instead of skipping it.
    stats : dict, optional
        Filled in (also while iterating) with ``lines``, ``records``, ``blank``,
        ``malformed`` and ``errors`` (the first 10 problems as ``"line N: reason"``).

    Yields
    ------
    dict
        One record per non-blank line: a JSON object with at least an ``id``.

    Warns
    -----
    CurationWarning
        At the end, when malformed lines were skipped: how many and the first problems.

    Raises
    ------
    CorruptFileError
        A malformed line with ``strict=True``, or a truncated gzip stream.

    Examples
    --------
    >>> from motifkit.curation import iter_arxiv_records, sample_path
    >>> sum(1 for _ in iter_arxiv_records(sample_path()))
    30
    """
    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"{path} does not exist; download the arXiv metadata dump or fix the path.",
                               filename=str(path))
    if path.is_dir():
        raise FileFormatError(f"{path} is a folder; pass the JSON-lines file inside it.")
    counts = stats if stats is not None else {}
    counts.update(lines=0, records=0, blank=0, malformed=0, errors=[])
    number = 0
    try:
        with _open(path) as handle:
            for number, line in enumerate(handle, start=1):
                counts["lines"] = number
                if not line.strip():
                    counts["blank"] += 1
                    continue
                try:
                    record = json.loads(line)
                    problem = None
                    if not isinstance(record, dict):
                        problem = f"a JSON {type(record).__name__}, not an object"
                    elif not isinstance(record.get("id"), str) or not record["id"].strip():
                        problem = "no 'id' string"
                except json.JSONDecodeError as exc:
                    problem = f"invalid JSON ({exc.msg} at column {exc.colno})"
                if problem is not None:
                    if strict:
                        raise CorruptFileError(
                            f"{path.name}, line {number}: {problem}. Each line must be one JSON object "
                            f"with an 'id'; fix the line or pass strict=False to skip such lines."
                        )
                    counts["malformed"] += 1
                    if len(counts["errors"]) < 10:
                        counts["errors"].append(f"line {number}: {problem}")
                    continue
                counts["records"] += 1
                yield record
    except (EOFError, gzip.BadGzipFile, OSError) as exc:
        raise CorruptFileError(
            f"{path.name} could not be read past line {number} ({type(exc).__name__}: {exc}); the file "
            f"is truncated or corrupt. Download it again."
        ) from exc
    if counts["malformed"]:
        warnings.warn(
            f"{path.name}: skipped {counts['malformed']} malformed line(s) of {counts['lines']} "
            f"({'; '.join(counts['errors'][:3])}).",
            CurationWarning,
            stacklevel=2,
        )


# --------------------------------------------------------------------------------------
# query and matching
# --------------------------------------------------------------------------------------
def _is_acronym(keyword: str) -> bool:
    letters = [c for c in keyword if c.isalpha()]
    return bool(letters) and " " not in keyword.strip() and all(c.isupper() for c in letters)


def _keyword_regex(keyword: str, acronyms_case_sensitive: bool) -> tuple[str, bool]:
    """Regex source for one keyword and whether it is searched in the lower-cased text.

    The word-boundary test on the left is a look-behind placed *after* the first word, so
    that the pattern starts with a literal and the regex engine can skip ahead quickly.
    Case-insensitive keywords are lower-cased and searched in the lower-cased text, which
    is much faster than ``re.IGNORECASE``.
    """
    words = keyword.strip().split()
    acronym = _is_acronym(keyword) and acronyms_case_sensitive
    if not acronym:
        words = [w.lower() for w in words]
    first = re.escape(words[0])
    rest = "".join(r"[\s\-]+" + re.escape(w) for w in words[1:])
    plural = "s?" if _is_acronym(keyword) else ""
    source = rf"{first}(?<![A-Za-z0-9]{first}){rest}{plural}(?![A-Za-z0-9])"
    return source, not acronym


def _combined(sources: list[str]) -> re.Pattern | None:
    return re.compile("|".join(f"(?:{s})" for s in sources)) if sources else None


@dataclass(frozen=True)
class CurationQuery:
    """What to look for in arXiv records.

    Parameters
    ----------
    include : tuple of str
        A record matches when at least one of these keywords occurs in a searched field.
    exclude : tuple of str
        A record is rejected when any of these occurs in a searched field.
    ignore : tuple of str
        Phrases blanked out before matching (e.g. ``"STEM education"``).
    categories : tuple of str, optional
        Keep only records with at least one of these arXiv categories; an archive name
        without a dot (``"cond-mat"``) stands for all its categories. None = any.
    years : (int or None, int or None)
        Inclusive range of submission years (first version); None = open.
    fields : tuple of str
        Record fields to search, from ``title``, ``abstract``, ``captions``, ``comments``.
    acronyms_case_sensitive : bool
        Match all-capital keywords (``STEM``, ``STM``, ``HAADF``) case-sensitively.

    Examples
    --------
    >>> q = CurationQuery(include=("STM",), categories=("cond-mat",))
    >>> q.matches_text("Low-temperature STM topographs")
    ['STM']
    """

    include: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    categories: tuple[str, ...] | None = None
    years: tuple[int | None, int | None] = (None, None)
    fields: tuple[str, ...] = ("title", "abstract", "captions")
    acronyms_case_sensitive: bool = True
    _patterns: dict = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        for name in ("include", "exclude", "ignore", "fields"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = (value,)
            value = tuple(value)
            if not all(isinstance(v, str) and v.strip() for v in value):
                raise ParameterError(f"CurationQuery.{name} must be a list of non-empty strings, got {value!r}.")
            object.__setattr__(self, name, value)
        if not self.include:
            raise ParameterError("CurationQuery.include is empty; give at least one keyword, e.g. ('STEM', 'STM').")
        unknown = [f for f in self.fields if f not in SEARCHABLE_FIELDS]
        if unknown or not self.fields:
            raise ParameterError(f"Unknown fields {unknown}; search some of {list(SEARCHABLE_FIELDS)}.")
        if self.categories is not None:
            categories = (self.categories,) if isinstance(self.categories, str) else tuple(self.categories)
            if not categories or not all(isinstance(c, str) and c.strip() for c in categories):
                raise ParameterError(f"categories must be a list of arXiv categories such as 'cond-mat.mtrl-sci', got {self.categories!r}.")
            object.__setattr__(self, "categories", categories)
        try:
            low, high = self.years
            low = None if low is None else int(low)
            high = None if high is None else int(high)
        except (TypeError, ValueError):
            raise ParameterError(f"years must be (first, last) with ints or None, got {self.years!r}.") from None
        if low is not None and high is not None and low > high:
            raise ParameterError(f"years={self.years!r}: the first year is after the last.")
        object.__setattr__(self, "years", (low, high))
        cs = bool(self.acronyms_case_sensitive)
        compiled = {}
        for which in ("include", "exclude"):
            keywords = {k: _keyword_regex(k, cs) for k in getattr(self, which)}
            compiled[which] = {k: (re.compile(src), lowered) for k, (src, lowered) in keywords.items()}
            # One combined search per text case first: most records match nothing.
            compiled[f"{which}_any"] = (
                _combined([src for src, lowered in keywords.values() if not lowered]),
                _combined([src for src, lowered in keywords.values() if lowered]),
            )
        # Ignored phrases are blanked in the original text, so they use IGNORECASE.
        ignore = [src if not lowered else f"(?i:{src})" for src, lowered in (_keyword_regex(k, cs) for k in self.ignore)]
        compiled["ignore"] = _combined(ignore)
        object.__setattr__(self, "_patterns", compiled)

    def _clean(self, text: str) -> str:
        ignore = self._patterns["ignore"]
        if ignore is not None and ignore.search(text):
            text = ignore.sub(lambda m: " " * len(m.group(0)), text)
        return text

    def matches_text(self, text: str, *, which: str = "include") -> list[str]:
        """Keywords of ``include`` (or ``exclude``) found in ``text`` after removing ``ignore`` phrases."""
        if which not in ("include", "exclude"):
            raise ParameterError(f"which must be 'include' or 'exclude', got {which!r}.")
        if not text or not self._patterns[which]:
            return []
        as_written, lower_case = self._patterns[f"{which}_any"]
        lowered = text.lower()
        if not ((as_written is not None and as_written.search(text))
                or (lower_case is not None and lower_case.search(lowered))):
            return []
        text = self._clean(text)
        lowered = text.lower()
        return [k for k, (pattern, on_lowered) in self._patterns[which].items()
                if pattern.search(lowered if on_lowered else text)]

    def category_ok(self, categories: str | None) -> bool:
        """True when the record's space-separated ``categories`` pass the filter."""
        if self.categories is None:
            return True
        present = (categories or "").split()
        for wanted in self.categories:
            for category in present:
                if category == wanted or ("." not in wanted and category.split(".")[0] == wanted):
                    return True
        return False


#: Default query for papers with STEM or STM images (AtomVision's keywords, refined).
STEM_STM_QUERY = CurationQuery(
    include=(
        "STEM", "STM", "HAADF",
        "scanning transmission electron", "scanning tunneling", "scanning tunnelling",
        "annular dark field",
    ),
    exclude=("short-term memory",),
    ignore=(
        "STEM education", "STEM students", "STEM fields", "STEM disciplines", "STEM careers",
        "STEM majors", "STEM workforce", "STEM outreach", "STEM subjects",
    ),
)


def default_query() -> CurationQuery:
    """The default STEM/STM image query (:data:`STEM_STM_QUERY`)."""
    return STEM_STM_QUERY


def record_year(record: dict) -> int | None:
    """Submission year of a record: first version's date, else ``update_date``, else the id.

    Examples
    --------
    >>> record_year({"id": "cond-mat/0603999"}), record_year({"id": "2101.00001"})
    (2006, 2021)
    """
    versions = record.get("versions") or []
    if versions and isinstance(versions[0], dict) and versions[0].get("created"):
        try:
            return email.utils.parsedate_to_datetime(versions[0]["created"]).year
        except (TypeError, ValueError):
            pass
    update = record.get("update_date")
    if isinstance(update, str) and re.match(r"^\d{4}-", update):
        return int(update[:4])
    identifier = str(record.get("id", ""))
    found = re.match(r"^(\d{2})(\d{2})\.\d{4,5}", identifier) or re.search(r"/(\d{2})(\d{2})\d{3}", identifier)
    if found:
        yy = int(found.group(1))
        return 1900 + yy if yy >= 90 else 2000 + yy
    return None


def _field_texts(record: dict, name: str) -> list[tuple[str, str]]:
    value = record.get(name)
    if value is None:
        return []
    if name == "captions":
        if isinstance(value, str):
            value = [value]
        return [(f"captions[{i}]", str(c)) for i, c in enumerate(value) if c]
    return [(name, str(value))]


def match_record(record: dict, query: CurationQuery | None = None) -> dict | None:
    """Return where each include keyword matched in ``record``, or None if it does not match.

    Parameters
    ----------
    record : dict
        One arXiv metadata record.
    query : CurationQuery, optional
        Defaults to :data:`STEM_STM_QUERY`.

    Returns
    -------
    dict or None
        ``{keyword: [field, ...]}`` (fields like ``"abstract"`` or ``"captions[2]"``) when the
        record passes categories, years, exclude and include; otherwise None.
    """
    query = STEM_STM_QUERY if query is None else query
    if not query.category_ok(record.get("categories")):
        return None
    low, high = query.years
    if low is not None or high is not None:
        year = record_year(record)
        if year is None or (low is not None and year < low) or (high is not None and year > high):
            return None
    found: dict[str, list[str]] = {}
    for name in query.fields:
        for where, text in _field_texts(record, name):
            if query.exclude and query.matches_text(text, which="exclude"):
                return None
            for keyword in query.matches_text(text):
                found.setdefault(keyword, []).append(where)
    return found or None


def filter_arxiv(
    path_or_records,
    query: CurationQuery | None = None,
    *,
    limit: int | None = None,
    strict: bool = False,
    stats: dict | None = None,
    verbose: bool = False,
) -> list[dict]:
    """Select the records that match ``query``.

    Parameters
    ----------
    path_or_records : str, Path or iterable of dict
        A JSON-lines dump (read with :func:`iter_arxiv_records`) or records already loaded.
    query : CurationQuery, optional
        Defaults to :data:`STEM_STM_QUERY` (STEM/STM images).
    limit : int, optional
        Stop after this many matches.
    strict : bool
        Passed to :func:`iter_arxiv_records` (raise on malformed lines).
    stats : dict, optional
        Filled with the reading counts (see :func:`iter_arxiv_records`) plus ``scanned`` and
        ``matched``.
    verbose : bool
        Show a progress bar.

    Returns
    -------
    list of dict
        Copies of the matching records, each with ``matches`` (``{keyword: [fields]}``),
        ``matched_keywords`` (sorted list) and ``year`` added, in file order.

    Examples
    --------
    >>> from motifkit.curation import CurationQuery, filter_arxiv, sample_path
    >>> q = CurationQuery(include=("STM", "scanning tunneling"), categories=("cond-mat.mtrl-sci",))
    >>> [r["id"] for r in filter_arxiv(sample_path(), q)]
    ['2101.90002', '2107.90014', 'cond-mat/0603999']
    """
    from ._utils import progress

    query = STEM_STM_QUERY if query is None else query
    if not isinstance(query, CurationQuery):
        raise ParameterError(f"query must be a CurationQuery, got {type(query).__name__}.")
    if limit is not None and (int(limit) != limit or limit < 1):
        raise ParameterError(f"limit must be a positive integer or None, got {limit!r}.")
    counts = stats if stats is not None else {}
    if isinstance(path_or_records, (str, Path)):
        records: Iterable[dict] = iter_arxiv_records(path_or_records, strict=strict, stats=counts)
    elif isinstance(path_or_records, dict):
        raise ParameterError("Pass a list of records (or a path), not a single record; use match_record for one.")
    else:
        records = path_or_records
    selected, scanned = [], 0
    for record in progress(records, verbose=verbose, desc="arXiv records", unit="rec"):
        scanned += 1
        if not isinstance(record, dict):
            raise ParameterError(f"Record {scanned} is a {type(record).__name__}, not a dict.")
        found = match_record(record, query)
        if found is None:
            continue
        out = dict(record)
        out["matches"] = found
        out["matched_keywords"] = sorted(found)
        out["year"] = record_year(record)
        selected.append(out)
        if limit is not None and len(selected) >= limit:
            break
    counts.update(scanned=scanned, matched=len(selected))
    return selected


def summarise(matches: Iterable[dict]) -> dict:
    """Count matched records per keyword, category, archive, year and field.

    Parameters
    ----------
    matches : iterable of dict
        Output of :func:`filter_arxiv`.

    Returns
    -------
    dict
        ``n_records``, and count dicts ``keywords``, ``categories`` (every listed category),
        ``primary_categories`` (the first one), ``years`` (submission year) and ``fields``
        (``"captions"`` for any caption), each sorted by decreasing count.

    Examples
    --------
    >>> from motifkit.curation import filter_arxiv, sample_path, summarise
    >>> summarise(filter_arxiv(sample_path()))["fields"]["captions"]
    3
    """
    keywords, categories, primary, years, fields = Counter(), Counter(), Counter(), Counter(), Counter()
    n_records = 0
    for record in matches:
        if "matches" not in record:
            raise ParameterError("summarise expects records returned by filter_arxiv (with a 'matches' key).")
        n_records += 1
        keywords.update(record["matches"].keys())
        cats = (record.get("categories") or "").split()
        categories.update(cats)
        if cats:
            primary[cats[0]] += 1
        year = record.get("year", record_year(record))
        years[str(year) if year is not None else "unknown"] += 1
        fields.update({w.split("[")[0] for places in record["matches"].values() for w in places})
    ordered = lambda c: dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))
    return {
        "n_records": n_records,
        "keywords": ordered(keywords),
        "categories": ordered(categories),
        "primary_categories": ordered(primary),
        "years": dict(sorted(years.items())),
        "fields": ordered(fields),
    }


def write_jsonl(records: Iterable[dict], path, *, overwrite: bool = False) -> Path:
    """Write records as JSON lines (gzipped when ``path`` ends in ``.gz``).

    Parameters
    ----------
    records : iterable of dict
    path : str or Path
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    Path
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileFormatError(f"{path} exists; pass overwrite=True to replace it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as handle:
        for number, record in enumerate(records, start=1):
            if not isinstance(record, dict):
                raise ParameterError(f"Record {number} is a {type(record).__name__}, not a dict.")
            handle.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
    return path
