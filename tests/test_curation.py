"""Tests for motifkit.curation on the bundled synthetic arXiv sample."""

from __future__ import annotations

import gzip
import json
import warnings

import pytest

from motifkit.curation import (
    STEM_STM_QUERY,
    CurationQuery,
    CurationWarning,
    filter_arxiv,
    iter_arxiv_records,
    match_record,
    record_year,
    sample_path,
    summarise,
    write_jsonl,
)
from motifkit.errors import CorruptFileError, FileFormatError, ParameterError

# Which sample records have STEM/STM images (by construction of the sample).
EXPECTED_DEFAULT = [
    "2101.90001", "2101.90002", "2103.90005", "2104.90008", "2105.90009", "2106.90012",
    "2107.90014", "2108.90016", "2109.90018", "2110.90020", "2111.90022", "2112.90024",
    "2201.90026", "2202.90028", "cond-mat/0603999",
]
KAGGLE_FIELDS = {"id", "submitter", "authors", "title", "comments", "journal-ref", "doi", "report-no",
                 "categories", "license", "abstract", "versions", "update_date", "authors_parsed"}


def test_sample_has_kaggle_format():
    records = list(iter_arxiv_records(sample_path()))
    assert len(records) == 30
    assert len({r["id"] for r in records}) == 30
    for record in records:
        assert KAGGLE_FIELDS <= set(record)
        assert "Synthetic" in record["comments"]
        assert isinstance(record["versions"], list) and record["versions"][0]["version"] == "v1"


def test_default_query_selects_exactly_the_image_papers():
    hits = filter_arxiv(sample_path())
    assert [h["id"] for h in hits] == EXPECTED_DEFAULT


def test_tricky_non_matches():
    by_id = {r["id"]: r for r in iter_arxiv_records(sample_path())}
    # "stems from" / "stem from" / "Stem cells" / "stemming" are not the microscope.
    for identifier in ("2102.90003", "2106.90011", "2110.90019", "2202.90027"):
        assert match_record(by_id[identifier]) is None, identifier
    # STM32 microcontrollers and STMicroelectronics are not STM.
    assert match_record(by_id["2102.90004"]) is None
    # STEM education only: ignored phrases; short-term memory (STM): excluded.
    assert match_record(by_id["2103.90006"]) is None
    assert match_record(by_id["2104.90007"]) is None
    # Conventional TEM is not STEM.
    assert match_record(by_id["2108.90015"]) is None
    # Without the exclusion, the short-term-memory paper would match on "STM".
    bare = CurationQuery(include=("STM",))
    assert match_record(by_id["2104.90007"], bare) == {"STM": ["abstract"]}
    # Case-insensitive acronyms would wrongly catch "stem from".
    loose = CurationQuery(include=("STEM",), acronyms_case_sensitive=False)
    assert match_record(by_id["2102.90003"], loose) is not None


def test_matches_report_keyword_and_where():
    hits = {h["id"]: h for h in filter_arxiv(sample_path())}
    # Caption-only matches.
    assert hits["2103.90005"]["matches"] == {"STM": ["captions[1]"]}
    assert hits["2109.90018"]["matches"] == {"HAADF": ["captions[1]"]}
    # Phrases tolerate hyphens and British spelling; "STEM education" is ignored but
    # "STEM detector" in the same record still counts.
    assert hits["2106.90012"]["matches"] == {"scanning tunnelling": ["title", "abstract"]}
    assert hits["2202.90028"]["matches"]["STEM"] == ["title"]
    assert hits["2101.90001"]["matched_keywords"] == sorted(hits["2101.90001"]["matches"])
    assert hits["cond-mat/0603999"]["year"] == 2006
    # Without captions in the searched fields, caption-only papers drop out.
    no_captions = CurationQuery(include=STEM_STM_QUERY.include, exclude=STEM_STM_QUERY.exclude,
                                ignore=STEM_STM_QUERY.ignore, fields=("title", "abstract"))
    ids = [h["id"] for h in filter_arxiv(sample_path(), no_captions)]
    assert ids == [i for i in EXPECTED_DEFAULT if i not in ("2103.90005", "2109.90018")]


def test_category_and_year_filters():
    mtrl = CurationQuery(include=STEM_STM_QUERY.include, exclude=STEM_STM_QUERY.exclude,
                         ignore=STEM_STM_QUERY.ignore, categories=("cond-mat.mtrl-sci",))
    assert [h["id"] for h in filter_arxiv(sample_path(), mtrl)] == [
        "2101.90001", "2101.90002", "2105.90009", "2107.90014", "2108.90016", "2109.90018",
        "2111.90022", "2201.90026", "cond-mat/0603999",
    ]
    archive = CurationQuery(include=STEM_STM_QUERY.include, ignore=STEM_STM_QUERY.ignore, categories="cond-mat")
    assert [h["id"] for h in filter_arxiv(sample_path(), archive)] == [i for i in EXPECTED_DEFAULT if i != "2202.90028"]
    recent = CurationQuery(include=STEM_STM_QUERY.include, ignore=STEM_STM_QUERY.ignore, years=(2022, None))
    assert [h["id"] for h in filter_arxiv(sample_path(), recent)] == ["2201.90026", "2202.90028"]
    assert len(filter_arxiv(sample_path(), limit=4)) == 4


def test_summarise_counts():
    summary = summarise(filter_arxiv(sample_path()))
    assert summary["n_records"] == 15
    assert summary["keywords"]["STEM"] == 6 and summary["keywords"]["STM"] == 4
    assert summary["keywords"]["HAADF"] == 2
    assert summary["years"] == {"2006": 1, "2021": 12, "2022": 2}
    assert summary["categories"]["cond-mat.mtrl-sci"] == 9
    assert summary["fields"]["captions"] == 3
    assert sum(summary["primary_categories"].values()) == 15
    with pytest.raises(ParameterError, match="filter_arxiv"):
        summarise([{"id": "x"}])


def test_write_jsonl_round_trip_plain_and_gzip(tmp_path):
    hits = filter_arxiv(sample_path())
    for name in ("hits.jsonl", "hits.jsonl.gz"):
        path = write_jsonl(hits, tmp_path / name)
        back = list(iter_arxiv_records(path))
        assert back == json.loads(json.dumps(hits))
        with pytest.raises(FileFormatError, match="overwrite"):
            write_jsonl(hits, path)
    # Records from memory work like a file.
    assert [h["id"] for h in filter_arxiv(back)] == EXPECTED_DEFAULT


def test_malformed_lines_are_counted_never_silent(tmp_path):
    lines = sample_path().read_text().splitlines()
    damaged = lines[:3] + ["{not json", "", "[1, 2]", '{"title": "no id"}'] + lines[3:]
    path = tmp_path / "damaged.jsonl"
    path.write_text("\n".join(damaged) + "\n")
    stats = {}
    with pytest.warns(CurationWarning, match="skipped 3 malformed line"):
        records = list(iter_arxiv_records(path, stats=stats))
    assert len(records) == 30
    assert stats["malformed"] == 3 and stats["blank"] == 1 and stats["lines"] == 34
    assert stats["errors"][0].startswith("line 4: invalid JSON")
    with pytest.raises(CorruptFileError, match="line 4"):
        list(iter_arxiv_records(path, strict=True))
    with pytest.warns(CurationWarning):
        assert [h["id"] for h in filter_arxiv(path)] == EXPECTED_DEFAULT
    # A clean file gives no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list(iter_arxiv_records(sample_path()))


def test_truncated_gzip_and_missing_file(tmp_path):
    data = gzip.compress(sample_path().read_bytes())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match="truncated"):
        list(iter_arxiv_records(path))
    with pytest.raises(FileFormatError, match="does not exist"):
        list(iter_arxiv_records(tmp_path / "missing.jsonl"))


def test_bad_queries():
    with pytest.raises(ParameterError, match="include"):
        CurationQuery(include=())
    with pytest.raises(ParameterError, match="fields"):
        CurationQuery(include=("STM",), fields=("body",))
    with pytest.raises(ParameterError, match="years"):
        CurationQuery(include=("STM",), years=(2022, 2020))
    with pytest.raises(ParameterError, match="non-empty"):
        CurationQuery(include=("STM", ""))
    with pytest.raises(ParameterError, match="CurationQuery"):
        filter_arxiv(sample_path(), query={"include": ["STM"]})
    with pytest.raises(ParameterError, match="single record"):
        filter_arxiv({"id": "1"})
    with pytest.raises(ParameterError, match="limit"):
        filter_arxiv(sample_path(), limit=0)


def test_record_year_fallbacks():
    assert record_year({"id": "x", "versions": [{"created": "Mon, 2 Apr 2007 19:18:42 GMT"}]}) == 2007
    assert record_year({"id": "x", "update_date": "2015-06-01"}) == 2015
    assert record_year({"id": "hep-th/9901001"}) == 1999
    assert record_year({"id": "1501.00001"}) == 2015
    assert record_year({"id": "weird"}) is None
