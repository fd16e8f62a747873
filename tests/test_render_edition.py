"""The fast renderer: the same bytes as render_email, for every reader of an edition."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import jinja2
import pytest
from test_render import (
    EDITION,
    LINKS,
    NOW,
    READER,
    SETTINGS,
    TEMPLATES,
    basic_ranked,
    bodies,
    make_paper,
    rank,
)

from digest.errors import RenderError
from digest.models import Email, Links, Paper, RankedPaper, Subscriber
from digest.render import RenderSettings, make_environment, render_email
from digest.render.edition import EditionRenderer
from digest.render.mime import _qp_cached
from digest.render.pattern import escape_html

TRICKY_REASONS = (
    'matches "diffusion" & <transformers> · it\'s new',
    "",
    "non\xa0breaking · café · 日本語の論文 · ★ 12",
    "a long reason that the text part has to wrap " * 4,
    "&amp; already escaped? &lt;no&gt; &#183;",
)
MATCHES = ("", "", "on diffusion", "on video generation", "by Ada Lovelace")
READERS = (
    READER,
    Subscriber("zoë.o'brien@exämple.org", "sub-2", topics=("diffusion", "video generation")),
    Subscriber('"quoted & odd"+tag@example.com', "sub-3"),
    Subscriber("fan@example.org", "sub-4", authors=("Ada Lovelace",)),
)


@pytest.fixture
def env() -> jinja2.Environment:
    """The Jinja environment over the repository's shipped templates."""
    return make_environment([TEMPLATES])


def edition_papers() -> list[Paper]:
    """Twelve papers of varied shapes: markup and non-ASCII in titles, missing fields."""
    papers = [make_paper(n) for n in range(1, 9)]
    papers += [
        make_paper(9, title="<b>Bold</b> & \"quoted\" 'claims' — über <script>x</script>"),
        make_paper(10, title="日本語のタイトル: 大規模言語モデル", authors=("山田 太郎",)),
        make_paper(11, url=None, pdf_url=None, github_url=None, ai_summary="Short & sweet."),
        Paper(id="title-0123456789abcdef", title="No links at all\n  and a wrapped title"),
    ]
    return papers


def personal(seed: int, papers: list[Paper]) -> list[RankedPaper]:
    """A reader's own choice and order of papers, each with a reason of its own and what
    it matched of the reader's (a topic, an author, or nothing: trending)."""
    rng = random.Random(seed)
    chosen = rng.sample(papers, rng.randint(1, len(papers)))
    return [
        RankedPaper(p, 1.0, rng.choice(TRICKY_REASONS), match=rng.choice(MATCHES)) for p in chosen
    ]


def links_for(n: int, mailto: bool = True) -> Links:
    return dataclasses.replace(
        LINKS,
        unsubscribe_url=f"https://papers.example.org/unsubscribe/tok-{n}?a=1&b=2",
        unsubscribe_mailto=f"mailto:unsubscribe@example.org?subject=tok-{n}" if mailto else None,
        preferences_url=f"https://papers.example.org/preferences/tok-{n}",
    )


def reference(
    env: jinja2.Environment,
    reader: Subscriber,
    ranked: list[RankedPaper],
    links: Links,
    settings: RenderSettings = SETTINGS,
) -> Email:
    """The email the straightforward path renders."""
    return render_email(EDITION, reader, ranked, links, settings, NOW, env)


# --- the same bytes ------------------------------------------------------------------------


def test_every_reader_gets_exactly_what_a_full_render_gives(env: jinja2.Environment) -> None:
    renderer = EditionRenderer(EDITION, SETTINGS, env, NOW)
    papers = edition_papers()
    for n in range(40):
        reader = dataclasses.replace(READERS[n % len(READERS)], id=f"sub-{n}")
        ranked = personal(n, papers)
        fast = renderer.render(reader, ranked, links_for(n))
        assert fast == reference(env, reader, ranked, links_for(n)), f"reader {n}"
    assert renderer.fast, renderer.slow_reason


def test_a_weekly_edition_speaks_of_the_week_in_both_renderers(env: jinja2.Environment) -> None:
    """Issue 15, bug 7: the weekly email said "15 papers picked for you today"."""
    weekly = dataclasses.replace(SETTINGS, period="week")
    ranked = personal(3, edition_papers())
    fast = EditionRenderer(EDITION, weekly, env, NOW).render(READER, ranked, LINKS)
    full = render_email(EDITION, READER, ranked, LINKS, weekly, NOW, env)
    assert fast == full
    text, html = bodies(full)
    count = len(full.paper_ids)
    assert f"This week's top {count} papers." in text
    assert f"This week's top {count} papers." in html and "today" not in text.lower()
    daily_text, _ = bodies(render_email(EDITION, READER, ranked, LINKS, SETTINGS, NOW, env))
    assert f"Today's top {count} papers." in daily_text


def test_escaping_matches_the_html_serialiser(env: jinja2.Environment) -> None:
    renderer = EditionRenderer(EDITION, SETTINGS, env, NOW)
    ranked = [RankedPaper(make_paper(1), 1.0, TRICKY_REASONS[0])]
    renderer.render(READER, rank(make_paper(2)), LINKS)  # the patterns are made before
    fast = renderer.render(READERS[2], ranked, links_for(7))
    assert fast == reference(env, READERS[2], ranked, links_for(7))
    _, html = bodies(fast)
    assert 'matches "diffusion" &amp; &lt;transformers&gt; · it\'s new' in html  # text
    assert renderer.fast
    assert 'href="https://papers.example.org/unsubscribe/tok-7?a=1&amp;b=2"' in html  # attribute
    assert "&quot;quoted &amp; odd&quot;+tag@example.com subscribed" not in html
    assert '"quoted &amp; odd"+tag@example.com subscribed' in html


def test_papers_dropped_for_the_budget_match_a_full_render(env: jinja2.Environment) -> None:
    settings = dataclasses.replace(SETTINGS, abstract_chars=20_000)
    huge = [make_paper(n, abstract="Tokens scale. " * 1_100) for n in range(1, 11)]
    renderer = EditionRenderer(EDITION, settings, env, NOW)
    for n, ranked in enumerate([rank(*huge), rank(*reversed(huge)), rank(*huge[3:])]):
        fast = renderer.render(READER, ranked, links_for(n))
        assert fast == reference(env, READER, ranked, links_for(n), settings)
        assert fast.html_size <= settings.max_html_bytes
        assert len(fast.paper_ids) < len(ranked)
        assert "did not fit in this email" in bodies(fast)[1]
    assert renderer.fast


def test_the_budget_is_kept_to_the_byte(env: jinja2.Environment) -> None:
    """At a budget of exactly an email's size that email fits; one byte less, it does not."""
    ranked = personal(3, edition_papers())[:6]
    budget = 10**6
    while True:
        settings = dataclasses.replace(SETTINGS, max_html_bytes=budget)
        slow = reference(env, READER, ranked, LINKS, settings)
        renderer = EditionRenderer(EDITION, settings, env, NOW)
        assert renderer.render(READER, ranked, LINKS) == slow, f"budget {budget}"
        assert renderer.fast, renderer.slow_reason  # it agreed with the full render
        if len(slow.paper_ids) == 1:
            break
        exact = dataclasses.replace(settings, max_html_bytes=slow.html_size)
        renderer = EditionRenderer(EDITION, exact, env, NOW)
        assert renderer.render(READER, ranked, LINKS).paper_ids == slow.paper_ids
        assert renderer.fast, renderer.slow_reason
        budget = slow.html_size - 1


def test_an_impossible_budget_is_the_same_render_error(env: jinja2.Environment) -> None:
    settings = dataclasses.replace(SETTINGS, max_html_bytes=2_000)
    renderer = EditionRenderer(EDITION, settings, env, NOW)
    with pytest.raises(RenderError, match="max_html_bytes=2000"):
        renderer.render(READER, basic_ranked(), LINKS)


def test_a_reader_without_a_mailto_link_still_gets_the_right_email(
    env: jinja2.Environment,
) -> None:
    renderer = EditionRenderer(EDITION, SETTINGS, env, NOW)
    for n, mailto in enumerate([True, False, True, False]):
        ranked = personal(n, edition_papers())
        fast = renderer.render(READER, ranked, links_for(n, mailto))
        assert fast == reference(env, READER, ranked, links_for(n, mailto))
    assert renderer.fast


def test_bad_input_is_refused_as_by_render_email(env: jinja2.Environment) -> None:
    renderer = EditionRenderer(EDITION, SETTINGS, env, NOW)
    with pytest.raises(RenderError, match="no papers"):
        renderer.render(READER, [], LINKS)
    with pytest.raises(RenderError, match="not an email address"):
        renderer.render(Subscriber("a@b.org\r\nBcc: c@d.org", "x"), basic_ranked(), LINKS)
    with pytest.raises(RenderError, match="absolute"):
        renderer.render(READER, basic_ranked(), dataclasses.replace(LINKS, archive_url="/a"))


def test_memory_grows_with_the_papers_not_the_readers(env: jinja2.Environment) -> None:
    renderer = EditionRenderer(EDITION, SETTINGS, env, NOW)
    papers = edition_papers()
    for n in range(300):
        renderer.render(Subscriber(f"reader{n}@example.org", f"r{n}"), personal(n, papers), LINKS)
    # each paper with and without a reason, opening a section or not
    assert renderer.cached_papers <= 2 * 3 * len(papers)


def test_the_caches_keep_what_recurs_not_each_readers_address_and_links(
    env: jinja2.Environment,
) -> None:
    """Readers with the same papers and reasons: after the first few, escaping and encoding
    their emails adds nothing to the caches (their addresses and links are not kept)."""
    renderer = EditionRenderer(EDITION, SETTINGS, env, NOW)
    ranked = personal(1, edition_papers())

    def render(n: int) -> Email:
        reader = Subscriber(f"reader{n}@example.org", f"r{n}")
        return renderer.render(reader, ranked, links_for(n))

    escape_html.cache_clear()
    _qp_cached.cache_clear()
    for n in range(5):
        render(n)
    held = escape_html.cache_info().currsize, _qp_cached.cache_info().currsize
    assert all(held), held  # both caches are in use
    last = [render(n) for n in range(5, 60)][-1]
    assert (escape_html.cache_info().currsize, _qp_cached.cache_info().currsize) == held
    assert last == reference(env, Subscriber("reader59@example.org", "r59"), ranked, links_for(59))


# --- templates the fast path cannot replay ---------------------------------------------------


def override(tmp_path: Path, find: str, replace: str) -> jinja2.Environment:
    """The shipped templates, with ``find`` replaced in the HTML one."""
    html = (TEMPLATES / "email.html.j2").read_text()
    assert find in html
    (tmp_path / "email.html.j2").write_text(html.replace(find, replace))
    return make_environment([tmp_path, TEMPLATES])


@pytest.mark.parametrize(
    ("find", "replace"),
    [
        ("<!--paper-->", ""),  # no markers: an operator's template of before
        ('<td class="paper">', '<td class="paper{{ " first" if loop.first }}">'),
        ("{{ intro }}", "{{ papers|length }} papers today."),
        ("{{ p.reason }}", "{{ p.reason|upper }}"),
        ("{{ p.title }}</a>", "{{ p.title }} for {{ recipient }}</a>"),
    ],
)
def test_a_template_the_fast_path_cannot_replay_is_rendered_in_full(
    tmp_path: Path, find: str, replace: str
) -> None:
    env = override(tmp_path, find, replace)
    renderer = EditionRenderer(EDITION, SETTINGS, env, NOW)
    papers = edition_papers()
    for n in range(4):
        ranked = personal(n + 10, papers)
        assert renderer.render(READER, ranked, links_for(n)) == reference(
            env, READER, ranked, links_for(n)
        )
    assert not renderer.fast
    assert renderer.slow_reason


def test_an_operator_text_template_without_markers_is_rendered_in_full(tmp_path: Path) -> None:
    (tmp_path / "email.txt.j2").write_text("Hello {{ recipient }}: {{ intro }}\n")
    env = make_environment([tmp_path, TEMPLATES])
    renderer = EditionRenderer(EDITION, SETTINGS, env, NOW)
    mail = renderer.render(READER, basic_ranked(), LINKS)
    assert bodies(mail)[0] == "Hello reader@example.com: Today's top 3 papers.\n"
    assert not renderer.fast


def test_a_broken_template_fails_as_it_does_in_render_email(tmp_path: Path) -> None:
    (tmp_path / "email.html.j2").write_text("<p>{{ paper_count }}</p>")
    env = make_environment([tmp_path, TEMPLATES])
    renderer = EditionRenderer(EDITION, SETTINGS, env, NOW)
    with pytest.raises(RenderError, match="'paper_count' is undefined"):
        renderer.render(READER, basic_ranked(), LINKS)


# --- markers are the templates', never the content's ----------------------------------------


def test_a_title_holding_the_markers_keeps_the_fast_path_and_its_text(
    env: jinja2.Environment,
) -> None:
    title = "<!--paper--> x <!--/paper-->"
    papers = [
        make_paper(1, title=title, abstract="An abstract with <!--notice--> in it."),
        make_paper(2),
    ]
    renderer = EditionRenderer(EDITION, SETTINGS, env, NOW)
    for n, reader in enumerate(READERS):
        ranked = rank(*papers)
        fast = renderer.render(reader, ranked, links_for(n))
        assert fast == reference(env, reader, ranked, links_for(n))
    assert renderer.fast, renderer.slow_reason  # a title switched it off for the edition
    text, html = bodies(fast)
    assert title in text and "<!--notice--> in it." in text
    assert "&lt;!--paper--&gt; x &lt;!--/paper--&gt;" in html
    assert "<!--paper-->" not in html and "\ufdd0" not in text + html
