"""Operator input: addresses and CSV rows are checked, bad rows reported by line."""

from __future__ import annotations

import pytest

from digest.errors import InputError
from digest.models import Status
from digest.subscribers import make_subscriber, read_csv, split_list, write_csv


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
