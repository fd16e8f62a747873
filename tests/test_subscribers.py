"""Operator input: addresses and CSV rows are checked, bad rows reported by line."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

import pytest

from digest.errors import InputError
from digest.models import Status
from digest.subscribers import address_key, make_subscriber, split_list
from digest.subscribers.csvfile import decode_csv, read_csv, write_csv


def test_address_is_normalised() -> None:
    assert make_subscriber("  ada@EXAMPLE.org ").email == "ada@example.org"


@pytest.mark.parametrize("bad", ["ada", "ada@", "@example.org", "a b@example.org", "ada@@x.org"])
def test_malformed_address_is_rejected(bad: str) -> None:
    with pytest.raises(InputError, match="not a valid email address"):
        make_subscriber(bad)


def test_topics_split_on_commas_and_semicolons() -> None:
    assert split_list("diffusion, rlhf; agents,, diffusion") == ("diffusion", "rlhf", "agents")


def test_csv_import_reports_bad_rows_with_line_numbers() -> None:
    text = (
        "email,topics,digests,cadence,status\n"
        'ada@example.org,"diffusion, agents",daily,daily,\n'
        "not-an-address,,,,\n"
        "bob@example.org,,nightly,,\n"
        "cy@example.org,,,monthly,\n"
        "dee@example.org,,,,unsubscribed\n"
    )
    rows, errors = read_csv(text, known_digests=("daily", "weekly"))
    assert [r.subscriber.email for r in rows] == ["ada@example.org", "dee@example.org"]
    assert rows[0].subscriber.topics == ("diffusion", "agents")
    assert rows[0].subscriber.status == Status.CONFIRMED
    assert rows[1].subscriber.status == Status.UNSUBSCRIBED
    assert [e.split(":")[0] for e in errors] == ["line 3", "line 4", "line 5"]
    assert "nightly" in errors[1] and "monthly" in errors[2]


def test_csv_without_email_column_is_refused() -> None:
    with pytest.raises(InputError, match="no 'email' column"):
        read_csv("address,topics\nada@example.org,x\n")


def test_export_reads_back() -> None:
    rows, _ = read_csv('email,topics,timezone\nada@example.org,"a, b",Europe/Paris\n')
    again, errors = read_csv(write_csv([r.subscriber for r in rows]))
    assert not errors and again[0].subscriber == rows[0].subscriber


# hostile input (issue 18) -------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["Europe", "America", "x" * 300, "Europe/" + "y" * 300])
def test_a_timezone_that_is_no_zone_file_is_an_input_error(zone: str) -> None:
    with pytest.raises(InputError, match="not an IANA timezone"):
        make_subscriber("ada@example.org", timezone=zone)


def test_a_bad_timezone_row_loses_no_good_row_after_it() -> None:
    text = "email,timezone\nada@example.org,Europe\nbob@example.org,Europe/Paris\n"
    rows, errors = read_csv(text)
    assert [r.subscriber.email for r in rows] == ["bob@example.org"]
    assert errors[0].startswith("line 2:") and "timezone" in errors[0]


def test_a_huge_field_is_one_bad_row_and_the_next_row_is_kept() -> None:
    text = f"email,topics\nada@example.org,{'x' * 200_000}\nbob@example.org,agents\n"
    rows, errors = read_csv(text)
    assert [r.subscriber.email for r in rows] == ["bob@example.org"]
    assert len(errors) == 1 and errors[0].startswith("line 2:") and "field" in errors[0]


CSV_TEXT = 'email,topics\nzoë@example.org,"graphs, agents"\n'


@pytest.mark.parametrize(
    "data",
    [
        CSV_TEXT.encode(),
        b"\xef\xbb\xbf" + CSV_TEXT.encode(),
        CSV_TEXT.encode("utf-16"),  # with its BOM
        b"\xff\xfe" + CSV_TEXT.encode("utf-16-le"),
        b"\xfe\xff" + CSV_TEXT.encode("utf-16-be"),
    ],
    ids=["utf-8", "utf-8-bom", "utf-16", "utf-16-le-bom", "utf-16-be-bom"],
)
def test_csv_bytes_in_utf8_or_utf16_with_bom_are_read(data: bytes) -> None:
    rows, errors = read_csv(decode_csv(data, "in.csv"))
    assert not errors and rows[0].subscriber.email == "zoë@example.org"
    assert rows[0].subscriber.topics == ("graphs", "agents")


@pytest.mark.parametrize(
    "data",
    [CSV_TEXT.encode("latin-1"), CSV_TEXT.encode("utf-16-le")],
    ids=["latin-1", "utf-16-no-bom"],
)
def test_csv_bytes_in_another_encoding_are_one_input_error(data: bytes) -> None:
    with pytest.raises(InputError, match=r"in\.csv.*UTF-8") as caught:
        decode_csv(data, "in.csv")
    assert caught.value.hint and "UTF-16" in caught.value.hint


@pytest.mark.parametrize("lead", ["=", "+", "-", "@", "\t"])
def test_export_neutralises_formulas_and_import_takes_them_back(lead: str) -> None:
    topic = f'{lead}HYPERLINK("http://evil.example/")'
    sub = replace(make_subscriber("ada@example.org"), topics=(topic,), authors=(f"{lead}Ada",))
    exported = write_csv([sub])
    cells = list(csv.reader(io.StringIO(exported)))[1]
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    assert f"'{topic}" in cells
    rows, errors = read_csv(exported)
    assert not errors
    assert rows[0].subscriber.topics == (topic.strip(),)  # a topic's edges are trimmed anyway
    assert rows[0].subscriber.authors == ((f"{lead}Ada").strip(),)


@pytest.mark.parametrize("text", ["'=x", "''=x", "'plain", "it's", "-"])
def test_values_that_start_with_a_quote_round_trip(text: str) -> None:
    sub = replace(make_subscriber("ada@example.org"), topics=(text,))
    rows, errors = read_csv(write_csv([sub]))
    assert not errors and rows[0].subscriber.topics == (text,)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Ada@Example.ORG", "ada@example.org"),
        ("ADA.Lovelace+x@EXAMPLE.org", "ada.lovelace+x@example.org"),
        ("jörg@Bücher.example", "jörg@bücher.example"),
    ],
)
def test_ascii_case_does_not_make_two_readers(one: str, other: str) -> None:
    assert address_key(one) == address_key(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("straße@example.org", "strasse@example.org"),
        ("JÖRG@example.org", "jörg@example.org"),  # non-ASCII case is the local part's own
        ("ada@straße.example", "ada@strasse.example"),  # IDNA 2008: two domains
    ],
)
def test_addresses_that_only_casefold_alike_are_two_readers(one: str, other: str) -> None:
    assert address_key(one) != address_key(other)


def test_ascii_keys_are_what_they_were() -> None:
    for address in ("Ada@Example.ORG", " bob@x.example ", "C.D+E@Sub.Example.Net"):
        assert address_key(address) == address.strip().casefold()


def test_a_duplicate_row_is_reported_by_line_not_merged() -> None:
    """Issue 15, bug 4: the second row of an address silently overwrote the first."""
    text = "email,topics\nada@example.org,llm\nbob@example.org,\nADA@example.org,robots\n"
    rows, errors = read_csv(text)
    assert [(r.line, r.subscriber.email, r.subscriber.topics) for r in rows] == [
        (2, "ada@example.org", ("llm",)),
        (3, "bob@example.org", ()),
    ]
    assert errors == ("line 4: ADA@example.org again (first on line 2), skipped",)
