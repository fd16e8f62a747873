"""Ranking: trending with age decay, personal relevance (BM25, stemming, phrases), filter and
boost, never repeat, near-duplicates, reasons, and why an edition is empty."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.models import Paper
from digest.rank import Ranker, RankSettings, Reader, rank
from digest.rank.explain import trend_reason
from digest.rank.relevance import Topic, follows, words

TODAY = date(2025, 11, 26)
SETTINGS = RankSettings()


def paper(pid: str, upvotes: int | None = 0, age: int | None = 0, **kw: object) -> Paper:
    day = TODAY - timedelta(days=age) if age is not None else None
    fields: dict[str, object] = {"title": f"Paper {pid}", **kw}
    return Paper(id=pid, upvotes=upvotes, daily_date=day, **fields)  # type: ignore[arg-type]


NOBODY = Reader()


def ids(papers: list[Paper], reader: Reader = NOBODY, **kw: object) -> list[str]:
    ranking = rank(papers, reader, today=TODAY, settings=RankSettings(**kw))  # type: ignore[arg-type]
    return [r.paper.id for r in ranking.papers]


# A small edition with real-looking text: two diffusion papers (one has the phrase), an RL
# paper, a popular unrelated one, and one by a followed author.
DIFFUSION_PHRASE = paper(
    "dg",
    3,
    title="Classifier-Free Diffusion Guidance at Scale",
    abstract="We revisit diffusion guidance for image generation and show guidance scales.",
)
DIFFUSION_SCATTERED = paper(
    "ds",
    5,
    title="Guidance Signals for Robot Navigation",
    abstract="A diffusion of ideas: robots use guidance from maps.",
)
RL = paper(
    "rl",
    8,
    title="Regularizing Policy Optimization with Trust Regions",
    abstract="Regularization of policy updates keeps reinforcement learning stable.",
)
POPULAR = paper(
    "pop",
    90,
    title="A Large Benchmark of Everything",
    abstract="We collect tasks and evaluate models on them.",
)
BY_ADA = paper(
    "ada",
    1,
    title="Analytical Engines Revisited",
    abstract="Notes on computing machinery.",
    authors=("Ada Lovelace", "Charles Babbage"),
)
EDITION = [DIFFUSION_PHRASE, DIFFUSION_SCATTERED, RL, POPULAR, BY_ADA]


# -- trending -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("papers", "expected"),
    [
        ([paper("old", 60, 7), paper("new", 40, 0)], ["new", "old"]),
        ([paper("a", 5, 1), paper("b", 50, 1), paper("c", 20, 1)], ["b", "c", "a"]),
        ([paper("b", 10, 1), paper("a", 10, 1), paper("c", 10, 1)], ["a", "b", "c"]),
        ([paper("x", None, None), paper("y", 3, 0)], ["y", "x"]),
        # arXiv feeds carry no upvotes: recency decides
        ([paper("older", None, 2), paper("newer", None, 0)], ["newer", "older"]),
        ([paper("c1", 10, 0, comments=30), paper("c0", 10, 0)], ["c1", "c0"]),
        ([paper("s1", 10, 0, github_stars=500), paper("s0", 10, 0)], ["s1", "s0"]),
    ],
)
def test_trending_order(papers: list[Paper], expected: list[str]) -> None:
    assert ids(papers) == expected
    assert ids(list(reversed(papers))) == expected


def test_half_life_sets_how_fast_popularity_fades() -> None:
    papers = [paper("old", 60, 2), paper("new", 40, 0)]
    assert ids(papers, half_life_days=1.0) == ["new", "old"]
    assert ids(papers, half_life_days=30.0) == ["old", "new"]


def test_size_limits_the_email() -> None:
    assert len(ids([paper(str(n), n) for n in range(30)], size=10)) == 10


# -- never repeat ---------------------------------------------------------------------------


def test_shown_papers_are_never_repeated() -> None:
    papers = [paper("a", 50), paper("b", 40), paper("c", 30)]
    assert ids(papers, Reader(shown=frozenset({"a", "zz"}))) == ["b", "c"]


def test_weekly_is_the_best_of_the_week_not_yet_seen() -> None:
    week = [paper(f"d{n}", 10 * n, 6 - n) for n in range(7)]
    seen = frozenset({"d6", "d5"})  # the daily emails showed the two best
    chosen = ids(week, Reader(shown=seen), size=3, half_life_days=7.0)
    assert chosen == ["d4", "d3", "d2"]


# -- relevance ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Regularizing networks", ["regular", "network"]),
        ("regularization of the networks", ["regular", "network"]),
        ("Régularisation", ["regularis"]),
        ("a b c of the", []),
        ("Diffusion-Guidance", ["diffus", "guidanc"]),
    ],
)
def test_words_are_stemmed_without_stop_words(text: str, expected: list[str]) -> None:
    assert words(text) == expected


def test_phrase_beats_the_same_words_scattered() -> None:
    chosen = rank(
        EDITION, Reader(topics=("diffusion guidance",)), today=TODAY, settings=SETTINGS
    ).papers
    relevance = {r.paper.id: r.relevance for r in chosen}
    assert relevance["dg"] > 2 * relevance["ds"] > 0
    assert chosen[0].paper.id == "dg"
    assert chosen[0].reason == 'matches "diffusion guidance"'


def test_stemming_matches_other_forms_of_a_word() -> None:
    chosen = rank(
        EDITION,
        Reader(topics=("regularization",), topic_mode="filter"),
        today=TODAY,
        settings=SETTINGS,
    ).papers
    assert [r.paper.id for r in chosen] == ["rl"]
    assert chosen[0].reason.startswith('matches "regularization"')


def test_title_counts_more_than_abstract() -> None:
    in_title = paper("t", title="Sparse Attention", abstract="We study models.")
    in_abstract = paper("a", title="Efficient Models", abstract="We study sparse attention.")
    reader = Reader(topics=("sparse attention",), topic_mode="filter")
    assert ids([in_abstract, in_title], reader) == ["t", "a"]


def test_relevance_is_a_share_between_zero_and_one() -> None:
    from digest.rank.relevance import PaperIndex

    scores = PaperIndex(EDITION).relevance([Topic.of("diffusion guidance"), Topic.of("zebra")])
    assert scores.shape == (2, len(EDITION))
    assert 0 < scores.max() < 1
    assert scores[1].max() == 0


# -- filter, boost, minimum relevance, authors ----------------------------------------------


@pytest.mark.parametrize(
    ("reader", "kw", "expected"),
    [
        # no topics: trending only
        (Reader(), {}, ["pop", "rl", "ds", "dg", "ada"]),
        # boost: matching papers move up, the rest follow in trending order
        (Reader(topics=("diffusion guidance",)), {}, ["dg", "pop", "ds", "rl", "ada"]),
        # filter: only matching papers (the scattered one passes the default floor)
        (Reader(topics=("diffusion guidance",), topic_mode="filter"), {}, ["dg", "ds"]),
        # a higher floor keeps only the phrase match
        (
            Reader(topics=("diffusion guidance",), topic_mode="filter", min_relevance=0.3),
            {},
            ["dg"],
        ),
        # the digest's default mode applies when the reader chose none
        (Reader(topics=("diffusion guidance",)), {"topic_mode": "filter"}, ["dg", "ds"]),
        # the reader's choice beats the digest's
        (
            Reader(topics=("diffusion guidance",), topic_mode="boost"),
            {"topic_mode": "filter"},
            ["dg", "pop", "ds", "rl", "ada"],
        ),
        # several topics: each paper counts its best topic
        (
            Reader(topics=("diffusion guidance", "policy regularization"), topic_mode="filter"),
            {},
            ["dg", "rl", "ds"],
        ),
        # a followed author's paper matches fully, whatever its topic
        (Reader(authors=("A. Lovelace",), topic_mode="filter"), {}, ["ada"]),
        # filter mode without anything to match is trending: never an empty email by mistake
        (Reader(topic_mode="filter"), {}, ["pop", "rl", "ds", "dg", "ada"]),
    ],
)
def test_modes(reader: Reader, kw: dict[str, object], expected: list[str]) -> None:
    assert ids(EDITION, reader, **kw) == expected


def test_followed_author_reason() -> None:
    chosen = rank(EDITION, Reader(authors=("ada lovelace",)), today=TODAY, settings=SETTINGS)
    assert chosen.papers[0].paper.id == "ada"
    assert chosen.papers[0].reason == "you follow Ada Lovelace"
    assert chosen.papers[0].match == "by Ada Lovelace"


@pytest.mark.parametrize(
    ("followed", "author", "match"),
    [
        ("Ada Lovelace", "A. Lovelace", True),  # the paper gives only the initial
        ("ada  lovelace", "ADA LOVELACE", True),
        ("José Núñez", "J. Nunez", True),
        ("José Núñez", "Jose Nunez", True),  # accents folded
        ("Ada Lovelace", "Ada B. Lovelace", True),  # a middle initial folded
        ("Jean-Pierre Dupont", "Jean Pierre Dupont", True),  # hyphens folded
        ("A. Lovelace", "Ada Lovelace", True),  # the reader follows an initial: all of them
        ("Xinchao Wang", "Xiaofeng Wang", False),  # issue 15, bug 1: not the same person
        ("Xinchao Wang", "Xin Wang", False),
        ("Ada Lovelace", "Alan Lovelace", False),
        ("Ada Lovelace", "B. Lovelace", False),
    ],
)
def test_authors_match_by_whole_name_and_by_initial_only_where_a_paper_gives_one(
    followed: str, author: str, match: bool
) -> None:
    assert follows(followed, author) is match


def test_following_an_author_does_not_follow_everyone_with_the_same_initial() -> None:
    """Issue 15, bug 1: 7 of 10 papers were "by Xiaofeng/Xiaodong/Xudong… Wang (followed)"."""
    papers = [
        paper("his", 1, authors=("Xinchao Wang", "Ada Lovelace")),
        paper("initial", 2, authors=("X. Wang",)),
        paper("other", 30, authors=("Xiaofeng Wang",)),
        paper("another", 20, authors=("Xudong Wang",)),
    ]
    settings = replace(SETTINGS, topic_mode="filter")
    chosen = rank(papers, Reader(authors=("Xinchao Wang",)), today=TODAY, settings=settings)
    assert [p.paper.id for p in chosen.papers] == ["initial", "his"]
    assert chosen.papers[1].reason == "you follow Xinchao Wang"


# -- diversity ------------------------------------------------------------------------------


def test_near_duplicates_take_one_slot() -> None:
    text = "We present a method for aligning language models with human feedback at scale."
    first = paper("v1", 30, title="Aligning Language Models at Scale", abstract=text)
    again = paper("v2", 20, title="Aligning Language Models at Scale (v2)", abstract=text)
    other = paper("x", 10, title="Protein Folding with Graphs", abstract="Proteins fold.")
    assert ids([first, again, other]) == ["v1", "x"]
    assert ids([first, again, other], similar=1.0) == ["v1", "v2", "x"]
    # a reader who saw the first gets the second: it is not a repeat of anything they lack
    assert ids([first, again, other], Reader(shown=frozenset({"v1"}))) == ["v2", "x"]


# -- empty editions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("papers", "reader", "why"),
    [
        ([], Reader(), "no papers in this edition"),
        (
            [paper("a")],
            Reader(shown=frozenset({"a"})),
            "all 1 papers of this edition were in earlier emails",
        ),
        (
            EDITION,
            Reader(topics=("zebra migration",), topic_mode="filter"),
            "none of the 5 new papers matches the reader's topics (zebra migration)"
            " with relevance 0.15 or more",
        ),
    ],
)
def test_empty_edition_says_why(papers: list[Paper], reader: Reader, why: str) -> None:
    ranking = rank(papers, reader, today=TODAY, settings=SETTINGS)
    assert ranking.papers == ()
    assert ranking.why_empty == why


def test_a_chosen_ranking_has_no_why() -> None:
    assert rank(EDITION, Reader(), today=TODAY, settings=SETTINGS).why_empty == ""


# -- reasons --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (paper("a", 42, 2), "42 upvotes · 2 days old"),
        (paper("a", 1, 0, comments=3), "1 upvote · 3 comments · today"),
        (paper("a", 7, 1, github_stars=120), "7 upvotes · 120 GitHub stars · 1 day old"),
        (paper("a", None, None), "new on the list"),
    ],
)
def test_trend_reason(p: Paper, expected: str) -> None:
    assert trend_reason(p, TODAY) == expected


def test_partial_match_names_the_words_found() -> None:
    reader = Reader(topics=("diffusion guidance",), topic_mode="filter")
    chosen = rank(EDITION, reader, today=TODAY, settings=SETTINGS).papers
    assert chosen[1].reason == 'matches "diffusion", "guidance"'
    assert chosen[1].match == "on diffusion guidance"


def test_a_reason_says_why_and_leaves_how_much_to_the_stats_line() -> None:
    """Issue 15: the reason repeated the stats line ("66 upvotes · 3 comments"); it says
    why the paper is there: a topic, a followed author, or its place in the trending order."""
    everyone = rank(EDITION, Reader(), today=TODAY, settings=SETTINGS).papers
    assert [p.reason for p in everyone[:2]] == ["trending #1 today", "trending #2 today"]
    assert all("upvote" not in p.reason and not p.match for p in everyone)
    weekly = RankSettings(period="week")
    assert rank(EDITION, Reader(), today=TODAY, settings=weekly).papers[0].reason == (
        "trending #1 this week"
    )
    reader = Reader(topics=("diffusion guidance",))
    mixed = rank(EDITION, reader, today=TODAY, settings=SETTINGS).papers
    matched = [p for p in mixed if p.match]
    assert matched and all(p.reason.startswith("matches ") for p in matched)
    assert all(p.reason.startswith("trending #") for p in mixed if not p.match)


# -- purity and the vectorised path ---------------------------------------------------------


def _readers(rng: random.Random, count: int) -> list[Reader]:
    topics = ["diffusion guidance", "regularization", "benchmark", "robot", "zebra", "policy"]
    return [
        Reader(
            topics=tuple(rng.sample(topics, rng.randint(0, 3))),
            authors=("Ada Lovelace",) if rng.random() < 0.2 else (),
            topic_mode=rng.choice([None, "filter", "boost"]),
            min_relevance=rng.choice([None, 0.0, 0.3]),
            shown=frozenset(rng.sample([p.id for p in EDITION], rng.randint(0, 2))),
        )
        for _ in range(count)
    ]


def test_many_readers_at_once_rank_as_each_alone() -> None:
    readers = _readers(random.Random(3), 40)
    ranker = Ranker(EDITION, today=TODAY, settings=SETTINGS, block=7)
    rankings = ranker.rank(readers)
    assert len({id(r._block) for r in rankings}) == 6  # five blocks of 7, a short last one
    together = [(r.papers, r.why_empty) for r in rankings]
    alone = [
        (rank(EDITION, reader, today=TODAY, settings=SETTINGS).papers, "") for reader in readers
    ]
    assert [p for p, _ in together] == [p for p, _ in alone]


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(min_value=1, max_value=12))
def test_same_input_same_emails_whatever_the_order(rng: random.Random, size: int) -> None:
    reader = _readers(rng, 1)[0]
    shuffled = EDITION[:]
    rng.shuffle(shuffled)
    first = rank(EDITION, reader, today=TODAY, settings=RankSettings(size=size))
    second = rank(shuffled, reader, today=TODAY, settings=RankSettings(size=size))
    assert first.papers == second.papers
    assert len(first.papers) <= size
    assert not {r.paper.id for r in first.papers} & reader.shown


def test_a_boost_reader_gets_their_matches_and_the_days_trending_papers() -> None:
    """Issue 15: a reader with topics gets "For you" and "Also trending": in boost mode their
    matches take at most half the email, the edition's trending papers the rest."""
    matching = [
        Paper(
            id=f"m{n}",
            title=f"Diffusion for {topic}",
            abstract=f"We apply diffusion to {topic}, {topic} benchmarks and {topic} tasks.",
            upvotes=1,
        )
        for n, topic in enumerate(["speech", "maps", "robots", "music", "code", "chess"])
    ]
    popular = [Paper(id=f"p{n}", title=f"Popular {n}", upvotes=100 + n) for n in range(8)]
    settings = RankSettings(size=6)
    reader = Reader(topics=("diffusion",))
    chosen = rank(matching + popular, reader, today=TODAY, settings=settings).papers
    assert len(chosen) == 6
    assert [bool(p.match) for p in chosen].count(True) == 3
    assert {p.paper.id for p in chosen if not p.match} == {"p7", "p6", "p5"}
    only = rank(matching, reader, today=TODAY, settings=settings).papers
    assert len(only) == 6 and all(p.match for p in only)  # nothing else: all matches
    filtered = Reader(topics=("diffusion",), topic_mode="filter")
    assert all(
        p.match for p in rank(matching + popular, filtered, today=TODAY, settings=settings).papers
    )
