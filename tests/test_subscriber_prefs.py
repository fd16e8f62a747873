"""A reader's ranking preferences (followed authors, topic mode, minimum relevance): kept by
the store, carried by the reader's choices, and set by the operator from the command line
and CSV files. The web forms' side is in test_web.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import FIXTURES
from conftest import run_cli as run

from digest.errors import InputError
from digest.models import Choices, Status, Subscriber
from digest.store import TinyStore
from digest.subscribers import (
    join_authors,
    make_subscriber,
    parse_min_relevance,
    parse_topic_mode,
    rules,
    split_authors,
)
from digest.subscribers.csvfile import read_csv, write_csv

NOW = datetime(2025, 11, 27, 9, 0, tzinfo=UTC)
ASKED = Choices(("daily",), ("diffusion",), "daily", None, ("Smith, J.", "Ada Lovelace"), "filter")


# the store -----------------------------------------------------------------------------------


def test_the_store_keeps_the_three_preferences(tmp_path: Path) -> None:
    store = TinyStore(tmp_path / "s.json")
    sub = Subscriber(
        "ada@example.org", "", authors=("Smith, J.",), topic_mode="boost", min_relevance=0.25
    )
    stored, _ = store.save_subscriber(sub)
    again = store.get_subscriber("ada@example.org")
    assert again == stored
    assert (again.authors, again.topic_mode, again.min_relevance) == (
        ("Smith, J.",),
        "boost",
        0.25,
    )
    doc = next(iter(json.loads(store.path.read_text())["subscribers"].values()))
    assert (doc["authors"], doc["topic_mode"], doc["min_relevance"]) == (
        ["Smith, J."],
        "boost",
        0.25,
    )


def test_unset_preferences_are_stored_as_null(tmp_path: Path) -> None:
    store = TinyStore(tmp_path / "s.json")
    store.save_subscriber(Subscriber("ada@example.org", ""))
    doc = next(iter(json.loads(store.path.read_text())["subscribers"].values()))
    assert (doc["authors"], doc["topic_mode"], doc["min_relevance"]) == ([], None, None)


def test_a_document_written_before_the_preferences_loads_with_the_defaults(
    tmp_path: Path,
) -> None:
    old = {
        "key": "ada@example.org",
        "email": "ada@example.org",
        "id": "id-ada",
        "status": "pending",
        "digests": [],
        "topics": ["speech"],
        "cadence": "daily",
        "timezone": None,
        "requested": {"digests": [], "topics": ["rl"], "cadence": "weekly", "timezone": None},
    }
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"subscribers": {"1": old}}))
    sub = TinyStore(path).get_subscriber("ada@example.org")
    assert sub is not None and sub.topics == ("speech",)
    assert (sub.authors, sub.topic_mode, sub.min_relevance) == ((), None, None)
    assert sub.requested == Choices((), ("rl",), "weekly", None, (), None)


def test_a_whole_number_min_relevance_loads_as_a_float(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    doc = {"key": "a@example.org", "email": "a@example.org", "id": "x", "status": "confirmed"}
    path.write_text(json.dumps({"subscribers": {"1": {**doc, "min_relevance": 1}}}))
    sub = TinyStore(path).get_subscriber("a@example.org")
    assert sub is not None and sub.min_relevance == 1.0 and isinstance(sub.min_relevance, float)


def test_a_request_carries_authors_and_mode_to_the_confirmation(tmp_path: Path) -> None:
    store = TinyStore(tmp_path / "s.json")
    pending, _ = store.request_subscription("ada@example.org", ASKED, now=NOW, consent="web")
    assert pending.authors == () and pending.topic_mode is None  # not before confirming
    assert store.get_subscriber("ada@example.org") == pending  # `requested` survives the file
    done = store.confirm_subscription(pending.id, now=NOW)
    assert done is not None
    sub = done[0]
    assert (sub.status, sub.authors, sub.topic_mode) == (
        Status.CONFIRMED,
        ("Smith, J.", "Ada Lovelace"),
        "filter",
    )


def test_saving_the_form_keeps_the_operators_min_relevance(tmp_path: Path) -> None:
    store = TinyStore(tmp_path / "s.json")
    stored, _ = store.save_subscriber(
        Subscriber("ada@example.org", "", topic_mode="filter", topics=("x",), min_relevance=0.4)
    )
    done = store.update_preferences(stored.id, Choices(("daily",)), paused=False)
    assert done is not None
    assert (done[0].authors, done[0].topic_mode, done[0].min_relevance) == ((), None, 0.4)


# operator input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "authors"),
    [
        ("Ada Lovelace; Alan Turing", ("Ada Lovelace", "Alan Turing")),
        ("Ada Lovelace, Alan Turing", ("Ada Lovelace", "Alan Turing")),
        ("Smith, J.; Doe, A.", ("Smith, J.", "Doe, A.")),
        ("Smith, J.;", ("Smith, J.",)),
        ("Smith, J.\nDoe, A.\n", ("Smith, J.", "Doe, A.")),
        ("  Ada   Lovelace ;; ada lovelace; ", ("Ada Lovelace",)),
        ("", ()),
        (None, ()),
    ],
)
def test_authors_split_on_semicolons_when_present_else_commas(
    text: str | None, authors: tuple[str, ...]
) -> None:
    assert split_authors(text) == authors


@pytest.mark.parametrize(
    "authors", [("Smith, J.",), ("Smith, J.", "Ada Lovelace"), ("Ada Lovelace",), ()]
)
def test_joined_authors_read_back_the_same(authors: tuple[str, ...]) -> None:
    assert split_authors(join_authors(authors)) == authors


@pytest.mark.parametrize(
    ("text", "mode"), [("filter", "filter"), (" Boost ", "boost"), ("", None), (None, None)]
)
def test_topic_mode(text: str | None, mode: str | None) -> None:
    assert parse_topic_mode(text) == mode


@pytest.mark.parametrize(
    ("value", "number"),
    [("0.3", 0.3), ("0", 0.0), ("1", 1.0), (0.5, 0.5), ("", None), (None, None)],
)
def test_min_relevance(value: str | float | None, number: float | None) -> None:
    assert parse_min_relevance(value) == number


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"topic_mode": "only"}, "topic mode 'only' is not one of boost, filter"),
        ({"min_relevance": "1.5"}, "min relevance '1.5' is not a number from 0 to 1"),
        ({"min_relevance": "-0.1"}, "min relevance '-0.1' is not a number from 0 to 1"),
        ({"min_relevance": "high"}, "min relevance 'high' is not a number from 0 to 1"),
        ({"min_relevance": "nan"}, "min relevance 'nan' is not a number from 0 to 1"),
        ({"topic_mode": "filter"}, "topic mode 'filter' keeps only papers matching"),
    ],
)
def test_bad_preferences_are_refused_by_name(fields: dict[str, str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        make_subscriber("ada@example.org", **fields)


def test_an_invited_readers_choices_carry_the_authors_and_mode() -> None:
    """``subscribers add --pending`` records ``sub.choices``: the confirmation applies them."""
    sub = make_subscriber("ada@example.org", authors="Smith, J.;", topic_mode="filter")
    assert sub.choices == Choices((), (), "daily", None, ("Smith, J.",), "filter")


def test_csv_rows_with_bad_preferences_are_reported_by_line() -> None:
    rows, errors = read_csv((FIXTURES / "subscribers-prefs.csv").read_text())
    by_email = {r.subscriber.email: r for r in rows}
    assert list(by_email) == ["ada@example.org", "alan@example.org", "gus@example.org"]
    ada = by_email["ada@example.org"].subscriber
    assert (ada.topics, ada.authors, ada.topic_mode, ada.min_relevance) == (
        ("diffusion models", "speech"),
        ("Smith, J.", "Ada Lovelace"),
        "filter",
        0.3,
    )
    alan = by_email["alan@example.org"].subscriber
    assert (alan.authors, alan.topic_mode, alan.min_relevance) == (
        ("Alan Turing", "Grace Hopper"),
        "boost",
        None,
    )
    gus = by_email["gus@example.org"].subscriber
    assert (gus.authors, gus.topic_mode, gus.min_relevance) == ((), None, None)
    assert [e.split(":")[0] for e in errors] == ["line 4", "line 5", "line 6", "line 7"]
    assert "'sometimes'" in errors[0] and "'1.5'" in errors[1] and "'lots'" in errors[2]
    assert "'filter'" in errors[3]


def test_the_export_writes_the_preferences_and_reads_back() -> None:
    subs = [
        Subscriber("a@example.org", "", authors=("Smith, J.",), topic_mode="filter"),
        Subscriber("b@example.org", "", authors=("Ada", "Alan"), min_relevance=0.35),
    ]
    text = write_csv(subs)
    header, first, second = text.splitlines()
    assert header.endswith(",authors,topic_mode,min_relevance")
    assert first.endswith(',"Smith, J.;",filter,') and second.endswith(",Ada; Alan,,0.35")
    rows, errors = read_csv(text)
    assert not errors
    assert [r.subscriber for r in rows] == subs


# the command line --------------------------------------------------------------------------------


def test_add_sets_the_preferences_and_list_shows_them(
    config_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = ["--config", str(config_file())]
    args = ["subscribers", "add", "ada@example.org", "--topics", "diffusion, agents"]
    prefs = ["--authors", "Ada Lovelace; Smith, J.", "--topic-mode", "filter"]
    code, out, err = run([*cfg, *args, *prefs, "--min-relevance", "0.3"], capsys)
    assert code == 0, err
    code, out, _ = run([*cfg, "subscribers", "list", "--json"], capsys)
    [row] = json.loads(out)
    assert row["authors"] == ["Ada Lovelace", "Smith, J."]
    assert (row["topic_mode"], row["min_relevance"]) == ("filter", 0.3)
    run(
        [*cfg, "subscribers", "add", "bob@example.org", "--authors", "Alan Turing, Grace Hopper"],
        capsys,
    )
    code, out, _ = run([*cfg, "subscribers", "list", "--json"], capsys)
    bob = json.loads(out)[1]
    assert bob["authors"] == ["Alan Turing", "Grace Hopper"]
    assert (bob["topic_mode"], bob["min_relevance"]) == (None, None)


def test_add_again_changes_only_what_it_was_given(
    config_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 15, bug 3: a second ``add`` wiped the timezone and reset the consent record."""
    config = config_file()
    cfg = ["--config", str(config)]
    first = ["subscribers", "add", "z@example.org", "--timezone", "Asia/Tokyo", "--topics", "llm"]
    assert run([*cfg, *first, "--cadence", "weekly", "--topic-mode", "boost"], capsys)[0] == 0
    store = TinyStore(config.parent / "store.json")
    before = store.get_subscriber("z@example.org")
    assert before is not None and before.consent == "added by the operator"
    code, _, err = run([*cfg, "subscribers", "add", "z@example.org", "--topics", "robots"], capsys)
    assert code == 0, err
    after = store.get_subscriber("z@example.org")
    assert after is not None and after.topics == ("robots",)
    assert (after.timezone, after.cadence, after.topic_mode) == ("Asia/Tokyo", "weekly", "boost")
    assert (after.consent, after.confirmed_at, after.id) == (
        before.consent,
        before.confirmed_at,
        before.id,
    )


def test_add_vouches_for_a_pending_address_and_keeps_how_it_came(tmp_path: Path) -> None:
    pending = Subscriber("p@example.org", "s1", status=Status.PENDING, consent="web form")
    given = Subscriber("p@example.org", "", topics=("agents",))
    now = datetime(2026, 12, 1, tzinfo=UTC)
    added = rules.operator_add(pending, given, frozenset({"topics"}), now=now)
    assert (added.status, added.confirmed_at, added.topics) == (Status.CONFIRMED, now, ("agents",))
    assert added.consent == "web form; confirmed by the operator" and added.id == "s1"


@pytest.mark.parametrize(
    ("options", "code", "message"),
    [
        (["--topic-mode", "sometimes"], 2, "'sometimes' is not one of 'boost', 'filter'"),
        (["--min-relevance", "1.5"], 2, "1.5 is not in the range 0.0<=x<=1.0"),
        (["--min-relevance", "high"], 2, "'high' is not a valid float"),
        (["--min-relevance", "nan"], 1, "Error: min relevance nan is not a number from 0 to 1"),
        (["--topic-mode", "filter"], 1, "Error: topic mode 'filter' keeps only papers"),
        (["--pending", "--min-relevance", "0.2"], 2, "--min-relevance cannot go with --pending"),
    ],
)
def test_add_refuses_bad_preferences_and_stores_nothing(
    config_file: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    code: int,
    message: str,
) -> None:
    path = config_file()
    got, _, err = run(
        ["--config", str(path), "subscribers", "add", "a@example.org", *options], capsys
    )
    assert got == code and message in err
    assert TinyStore(path.parent / "store.json").list_subscribers() == ()


def test_add_help_names_every_new_option(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["subscribers", "add", "--help"], capsys)
    assert code == 0
    for option in ("--authors", "--topic-mode [boost|filter]", "--min-relevance"):
        assert option in out
    text = " ".join(out.split())  # click wraps the help
    assert "Ada Lovelace; Alan Turing" in text and "Default: the digest's setting" in text


def test_import_and_export_through_the_command_line(
    config_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = ["--config", str(config_file())]
    csv_file = FIXTURES / "subscribers-prefs.csv"
    code, out, err = run([*cfg, "subscribers", "import", str(csv_file)], capsys)
    assert code == 1
    assert f"{csv_file}:4: topic mode 'sometimes' is not one of boost, filter" in err
    assert f"{csv_file}:5: min relevance '1.5' is not a number from 0 to 1" in err
    assert f"{csv_file}:6: min relevance 'lots'" in err and f"{csv_file}:7: topic mode" in err
    assert "3 added, 0 updated, 0 left suppressed, 4 bad rows skipped" in out
    code, out, _ = run([*cfg, "subscribers", "export"], capsys)
    assert out.splitlines() == [
        "email,topics,digests,cadence,timezone,status,authors,topic_mode,min_relevance",
        'ada@example.org,"diffusion models, speech",,daily,,confirmed,'
        '"Smith, J.; Ada Lovelace",filter,0.3',
        "alan@example.org,,,daily,,confirmed,Alan Turing; Grace Hopper,boost,",
        "gus@example.org,,,daily,,confirmed,,,",
    ]
