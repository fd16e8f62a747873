"""The render stage: one edition for one subscriber → one MIME message (PRODUCT §7)."""

from __future__ import annotations

import dataclasses
import email
import os
import re
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.policy import default
from email.utils import format_datetime
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest

from digest.config import load_config
from digest.errors import ConfigError, RenderError
from digest.models import Edition, Email, Links, Paper, RankedPaper, Subscriber
from digest.pipeline.compose import render_settings
from digest.render import (
    RenderSettings,
    make_environment,
    make_message_id,
    render_email,
    render_preview_html,
)
from digest.render.view import (
    authors_line,
    intro_line,
    make_paper_views,
    paper_links,
    paper_url,
    signals_line,
)

TEMPLATES = Path(__file__).parent.parent / "templates"
GOLDEN = Path(__file__).parent / "golden"
NOW = datetime(2024, 6, 11, 7, 30, tzinfo=UTC)
EDITION = Edition("daily", date(2024, 6, 11), "Daily Papers")
READER = Subscriber("reader@example.com", "sub-1")
LINKS = Links(
    unsubscribe_url="https://papers.example.org/unsubscribe/tok-123",
    unsubscribe_mailto="mailto:unsubscribe@example.org?subject=unsubscribe%20tok-123",
    preferences_url="https://papers.example.org/preferences/tok-123",
    archive_url="https://papers.example.org/archive/daily/2024-06-11",
)
SETTINGS = RenderSettings(
    from_address="Daily Papers <papers@example.org>",
    postal_address="Daily Papers, 1 Example Street, Springfield 12345, USA",
    list_id="daily.papers.example.org",
    base_url="https://papers.example.org/",
)


def make_paper(n: int = 1, /, **changes: object) -> Paper:
    """A fully known paper; ``changes`` override fields."""
    paper = Paper(
        id=f"2406.{10000 + n}",
        title=f"Paper number {n} on sparse diffusion transformers",
        abstract="We study sparse diffusion transformers and find that they scale well. " * 3,
        authors=("Ada Lovelace", "Alan Turing", "Grace Hopper", "Claude Shannon"),
        author_count=12,
        published=date(2024, 6, 10),
        daily_date=date(2024, 6, 11),
        upvotes=40 + n,
        comments=3,
        github_url="https://github.com/example/sparse-dit",
        github_stars=58,
        url=f"https://huggingface.co/papers/2406.{10000 + n}",
        pdf_url=f"https://arxiv.org/pdf/2406.{10000 + n}",
        sources=("hf-daily",),
    )
    return dataclasses.replace(paper, **changes)  # type: ignore[arg-type]


def rank(*papers: Paper) -> list[RankedPaper]:
    return [RankedPaper(p, 1.0 / i, f"trending #{i + 1} today") for i, p in enumerate(papers, 1)]


@pytest.fixture
def env() -> jinja2.Environment:
    """The Jinja environment over the repository's shipped templates."""
    return make_environment([TEMPLATES])


def render(env: jinja2.Environment, ranked: list[RankedPaper], **kw: object) -> Email:
    args: dict[str, object] = {
        "edition": EDITION,
        "subscriber": READER,
        "ranked": ranked,
        "links": LINKS,
        "settings": SETTINGS,
        "now": NOW,
        "env": env,
    }
    args.update(kw)
    return render_email(**args)  # type: ignore[arg-type]


def parse(mail: Email) -> EmailMessage:
    msg = email.message_from_bytes(mail.raw, policy=default)
    assert isinstance(msg, EmailMessage)
    return msg


def sent_bodies(mail: Email) -> tuple[str, str]:
    """The text and HTML parts exactly as sent (the HTML is ASCII with character references)."""
    msg = parse(mail)
    text, html = (part.get_content().replace("\r\n", "\n") for part in msg.iter_parts())
    return text, html


def bodies(mail: Email) -> tuple[str, str]:
    """The text and HTML parts, numeric character references in the HTML read back."""
    text, html = sent_bodies(mail)
    return text, re.sub(r"&#(\d+);", lambda m: chr(int(m.group(1))), html)


def link(url: str, label: str) -> re.Pattern[str]:
    """An <a> to ``url`` reading ``label``, whatever inlined style it carries."""
    return re.compile(rf'<a href="{re.escape(url)}"[^>]*>{re.escape(label)}</a>')


def hrefs(html: str) -> list[str]:
    found: list[str] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.extend(v or "" for k, v in attrs if k == "href")

    Collect().feed(html)
    return found


def basic_ranked() -> list[RankedPaper]:
    """Three papers of different shapes: full, names unknown, nothing but an old-style id."""
    return [
        RankedPaper(make_paper(1), 3.0, 'matches "diffusion"', match="on diffusion"),
        RankedPaper(
            make_paper(
                2,
                authors=(),
                author_count=7,
                comments=None,
                github_url=None,
                github_stars=None,
                ai_summary="An AI summary: distillation makes small models reason.",
            ),
            2.0,
            "trending #1 today",
        ),
        RankedPaper(
            Paper(id="cs/0112017", title="An old-style arXiv paper\n   with a wrapped title"),
            1.0,
            "trending #9 today",
        ),
    ]


# --- MIME structure and headers ------------------------------------------------------------


def test_text_part_comes_first_then_html_both_utf8(env: jinja2.Environment) -> None:
    mail = render(env, basic_ranked())
    msg = parse(mail)
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    text, html = sent_bodies(mail)
    assert (mail.text_size, mail.html_size) == (len(text.encode()), len(html.encode()))
    assert mail.paper_ids == ("2406.10001", "2406.10002", "cs/0112017")
    assert mail.recipient == "reader@example.com"
    assert mail.envelope_from == "papers@example.org"


def test_every_header_is_set_once(env: jinja2.Environment) -> None:
    mail = render(env, basic_ranked())
    msg = parse(mail)
    assert msg["From"] == "Daily Papers <papers@example.org>"
    assert msg["To"] == "reader@example.com"
    assert msg["Subject"] == "Daily Papers — Tue 11 Jun: Paper number 1 on sparse diffusion…"
    assert msg["Subject"] == mail.subject
    assert msg["Date"] == format_datetime(NOW)
    assert msg["Message-ID"] == mail.message_id
    assert re.fullmatch(r"<daily\.2024-06-11\.[0-9a-f]{16}@example\.org>", mail.message_id)
    assert msg["MIME-Version"] == "1.0"
    assert msg["List-Id"] == "Daily Papers <daily.papers.example.org>"
    assert msg["List-Unsubscribe"] == (
        "<https://papers.example.org/unsubscribe/tok-123>, "
        "<mailto:unsubscribe@example.org?subject=unsubscribe%20tok-123>"
    )
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Precedence"] == "bulk"
    assert "Reply-To" not in msg
    for name in ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "List-Unsubscribe"):
        assert len(msg.get_all(name) or []) == 1, name
    assert all("MIME-Version" not in part for part in msg.iter_parts())


def test_reply_to_and_bounce_address_when_set_and_mailto_optional(env: jinja2.Environment) -> None:
    settings = dataclasses.replace(
        SETTINGS, reply_to="Editors <editors@example.org>", envelope_from="bounces@example.org"
    )
    links = dataclasses.replace(LINKS, unsubscribe_mailto=None)
    mail = render(env, basic_ranked(), settings=settings, links=links)
    msg = parse(mail)
    assert msg["Reply-To"] == "Editors <editors@example.org>"
    assert mail.envelope_from == "bounces@example.org"
    assert msg["List-Unsubscribe"] == "<https://papers.example.org/unsubscribe/tok-123>"


def test_a_long_unsubscribe_url_is_folded_between_uris_never_encoded(
    env: jinja2.Environment,
) -> None:
    token = "eyJlbWFpbCI6InJlYWRlckBleGFtcGxlLmNvbSJ9." + "x" * 90
    links = dataclasses.replace(LINKS, unsubscribe_url=f"https://papers.example.org/u/{token}")
    mail = render(env, basic_ranked(), links=links)
    raw_headers = mail.raw.split(b"\r\n\r\n", 1)[0]
    assert f"List-Unsubscribe: <https://papers.example.org/u/{token}>,\r\n <mailto:".encode() in (
        raw_headers
    )
    assert parse(mail)["List-Unsubscribe"].startswith(f"<https://papers.example.org/u/{token}>")


def test_same_inputs_give_the_same_message_and_id(env: jinja2.Environment) -> None:
    first, again = render(env, basic_ranked()), render(env, basic_ranked())
    assert first.message_id == again.message_id
    assert first.raw == again.raw
    later = render(env, basic_ranked(), now=datetime(2024, 6, 11, 9, 0, tzinfo=UTC))
    assert later.message_id == first.message_id  # a retry an hour later is the same message


@pytest.mark.parametrize(
    ("edition", "subscriber"),
    [
        (EDITION, Subscriber("other@example.com", "sub-2")),
        (Edition("daily", date(2024, 6, 12), "Daily Papers"), READER),
        (Edition("weekly", date(2024, 6, 11), "Weekly Papers"), READER),
    ],
)
def test_message_id_differs_per_edition_and_subscriber(
    edition: Edition, subscriber: Subscriber
) -> None:
    base = make_message_id(EDITION, READER, SETTINGS)
    other = make_message_id(edition, subscriber, SETTINGS)
    assert other != base
    assert other.endswith("@example.org>")


def test_non_ascii_subject_is_encoded_and_round_trips(env: jinja2.Environment) -> None:
    title = "Café au lait: 日本語 retrieval"
    mail = render(env, rank(make_paper(1, title=title)))
    raw_headers = mail.raw.split(b"\r\n\r\n", 1)[0]
    raw_headers.decode("ascii")  # every header byte is ASCII
    assert b"=?utf-8?" in raw_headers
    assert parse(mail)["Subject"] == f"Daily Papers — Tue 11 Jun: {title}"


def test_a_long_top_title_is_cut_in_the_subject(env: jinja2.Environment) -> None:
    title = "A very long title " + "about scaling laws " * 10
    mail = render(env, rank(make_paper(1, title=title)))
    top = mail.subject.split(": ", 1)[1]
    assert len(top) <= 80
    assert top.endswith("…")
    assert title.startswith(top[:-1])


@pytest.mark.parametrize(
    "title",
    [
        "Scaling Sparse Diffusion Transformers to Billions of Parameters with Mixture-of-Experts",
        "Supercalifragilisticexpialidociousnessandmore" * 2,
        "Short",
    ],
)
def test_a_subject_stays_under_seventy_characters_cut_at_a_word(
    env: jinja2.Environment, title: str
) -> None:
    """Issue 15: subjects of 100 characters were cut by every inbox, mid-word."""
    mail = render(env, rank(make_paper(1, title=title)))
    assert len(mail.subject) <= 70
    top = mail.subject.split(": ", 1)[1]
    if top.endswith("…"):
        kept = top[:-1]
        assert title.startswith(kept) and (title[len(kept)] in " -" or " " not in title)
    else:
        assert top == title


def test_the_subject_carries_the_readers_strongest_match(env: jinja2.Environment) -> None:
    """A reader with topics gets their best match in the subject, not the edition's top."""
    top, mine = make_paper(1, title="Trending thing"), make_paper(2, title="Video diffusion")
    ranked = [
        RankedPaper(top, 2.0, "trending #1 today"),
        RankedPaper(mine, 1.0, 'matches "diffusion"', match="on diffusion"),
    ]
    reader = dataclasses.replace(READER, topics=("diffusion",))
    assert render(env, ranked, subscriber=reader).subject.endswith(": Video diffusion")
    assert render(env, ranked).subject.endswith(": Trending thing")


@pytest.mark.parametrize(
    "evil",
    [
        "Nice title\r\nBcc: victim@example.com",
        "Nice title\nX-Injected: yes\n\n<html>body</html>",
        "Nice title\rBcc: victim@example.com",
        "Nice title\x00\x0b\x1b\u2028Bcc: victim@example.com",
    ],
)
def test_control_characters_never_create_a_header(env: jinja2.Environment, evil: str) -> None:
    edition = dataclasses.replace(EDITION, title=f"Daily\r\nX-Edition: {evil}")
    mail = render(env, rank(make_paper(1, title=evil)), edition=edition)
    msg = parse(mail)
    assert "Bcc" not in msg
    assert "X-Injected" not in msg
    assert "X-Edition" not in msg
    assert not re.search(r"[\x00-\x1f]", msg["Subject"])
    assert msg["Subject"].startswith("Daily X-Edition: Nice title")
    assert len(msg["Subject"]) <= 70
    assert msg.get_content_type() == "multipart/alternative"


def test_an_address_with_a_line_break_is_refused(env: jinja2.Environment) -> None:
    reader = Subscriber("reader@example.com\r\nBcc: victim@example.com", "sub-1")
    with pytest.raises(RenderError, match="not an email address"):
        render(env, basic_ranked(), subscriber=reader)


# --- bodies --------------------------------------------------------------------------------


def test_markup_is_escaped_in_html_and_readable_in_text(env: jinja2.Environment) -> None:
    paper = make_paper(
        1,
        title="<script>alert('t')</script> & <b>Bold</b> claims",
        abstract="We show <img src=x onerror=alert(1)> is <i>fine</i> & fast.",
        authors=("<b>Mallory</b>",),
        author_count=1,
    )
    ranked = [RankedPaper(paper, 1.0, 'matches "<script>"')]
    text, html = bodies(render(env, ranked))
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert "<b>" not in html
    assert "&lt;script&gt;alert('t')&lt;/script&gt; &amp; &lt;b&gt;Bold&lt;/b&gt; claims" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script>alert('t')</script> & <b>Bold</b> claims" in text
    assert "We show <img src=x onerror=alert(1)> is <i>fine</i> & fast." in text
    assert "&lt;" not in text and "&amp;" not in text


def test_every_link_in_the_html_is_absolute(env: jinja2.Environment) -> None:
    odd = make_paper(
        2, url="/papers/2406.10002", pdf_url="javascript:alert(1)", github_url="github.com/x/y"
    )
    _, html = bodies(render(env, [*rank(make_paper(1)), *rank(odd)]))
    found = hrefs(html)
    assert len(found) >= 10
    assert all(h.startswith(("https://", "http://", "mailto:")) for h in found), found
    assert "https://arxiv.org/abs/2406.10002" in found  # the relative url fell back to arXiv
    assert "https://papers.example.org/unsubscribe/tok-123" in found
    assert "https://papers.example.org/preferences/tok-123" in found


def test_html_is_email_safe(env: jinja2.Environment) -> None:
    mail = render(env, basic_ranked())
    _, html = bodies(mail)
    lower = html.lower()
    assert lower.startswith("<!doctype html>")
    assert '<meta name="color-scheme" content="light dark">' in html
    assert '<meta name="supported-color-schemes" content="light dark">' in html
    assert "<script" not in lower and "<link" not in lower and "<img" not in lower
    assert 'role="presentation"' in html and 'width="600"' in html
    assert "max-width:600px" in html
    style = re.search(r"<style>(.*?)</style>", html, re.S)
    assert style is not None
    assert "@media (max-width: 620px)" in style.group(1)
    assert "@media (prefers-color-scheme: dark)" in style.group(1)
    assert ".paper {" not in style.group(1)  # plain rules were inlined ...
    assert 'class="blurb" style="' in html  # ... into style attributes
    preheader = re.search(r'<div class="preheader" style="([^"]*)">([^<]*)</div>', html)
    assert preheader is not None
    assert all(p in preheader.group(1) for p in ("display:none", "mso-hide:all", "max-height:0"))
    assert preheader.group(2).startswith("Paper number 1 on sparse diffusion transformers · ")
    assert html.index('class="preheader"') < html.index('class="outer"')
    assert "<!--paper-->" not in html and "<!--notice-->" not in html  # markers stay ours
    assert html.count('class="divider"') == 2  # between the three papers, not before the first


def test_html_is_sent_as_ascii_7bit_with_long_lines(env: jinja2.Environment) -> None:
    mail = render(env, basic_ranked())
    html_part = list(parse(mail).iter_parts())[1]
    assert html_part["Content-Transfer-Encoding"] == "7bit"
    _, sent = sent_bodies(mail)
    assert sent.isascii()
    assert "&#183;" in sent and "·" in bodies(mail)[1]  # "·" travels as a reference
    lines = sent.split("\n")
    assert max(map(len, lines)) <= 998
    assert len(lines) < 80  # rows, not one tag a line: relays and servers work per line


def test_font_family_is_set_once_and_for_outlook(env: jinja2.Environment) -> None:
    _, html = bodies(render(env, basic_ranked()))
    head, body = html.split("<body", 1)
    assert body.count("font-family:") == 1  # on the outer cell, and every cell inherits it ...
    assert "<!--[if mso]>" in head  # ... but in Outlook for Windows, which gets its own rule


def test_footer_says_why_and_how_to_leave(env: jinja2.Environment) -> None:
    text, html = bodies(render(env, basic_ranked()))
    assert "You receive this because reader@example.com subscribed to Daily Papers." in html
    assert "because you subscribed to Daily Papers, as:\nreader@example.com\n" in text
    for body in (text, html):
        assert "Daily Papers, 1 Example Street, Springfield 12345, USA" in body
    assert link(LINKS.unsubscribe_url, "Unsubscribe").search(html)
    assert link(LINKS.preferences_url, "Manage preferences").search(html)
    assert "Unsubscribe:\nhttps://papers.example.org/unsubscribe/tok-123\n" in text
    assert "Manage preferences:\nhttps://papers.example.org/preferences/tok-123\n" in text


def test_text_part_is_wrapped_and_lists_full_urls(env: jinja2.Environment) -> None:
    text, _ = bodies(render(env, basic_ranked()))
    assert max(len(line) for line in text.splitlines()) <= 78
    assert "\n    https://arxiv.org/abs/2406.10001\n" in text
    assert "\n    https://github.com/example/sparse-dit\n" in text
    assert '    Why: matches "diffusion"\n' in text
    assert "href" not in text and "<a " not in text and "&nbsp;" not in text


def test_text_part_wraps_at_78_and_every_url_stands_on_its_own_line(
    env: jinja2.Environment,
) -> None:
    """Issue 15: lines up to 78 columns; a URL, which must not be broken, is alone on its
    line (indented at most), so a client that wraps text never cuts one."""
    long_url = "https://github.com/example/" + "a-very-long-repository-name-" * 4
    ranked = rank(
        make_paper(1, title="Word " * 40, github_url=long_url),
        make_paper(2, authors=tuple(f"Author Number{n} With-A-Long-Surname" for n in range(3))),
    )
    reader = dataclasses.replace(READER, topics=("diffusion", "video generation"))
    text, _ = bodies(render(env, ranked, subscriber=reader))
    urls = re.findall(r"https?://\S+", text)
    assert long_url in urls and LINKS.unsubscribe_url in urls
    for line in text.splitlines():
        if "://" in line:
            assert re.fullmatch(r" *https?://\S+", line), line
        else:
            assert len(line) <= 78, line


def test_preview_is_the_html_part(env: jinja2.Environment) -> None:
    _, html = sent_bodies(render(env, basic_ranked()))
    preview = render_preview_html(EDITION, READER, basic_ranked(), LINKS, SETTINGS, NOW, env)
    assert preview == html


# --- size budget ---------------------------------------------------------------------------


def test_papers_are_dropped_from_the_end_to_fit_the_budget(env: jinja2.Environment) -> None:
    settings = dataclasses.replace(SETTINGS, abstract_chars=20_000)
    huge = [make_paper(n, abstract="Tokens scale. " * 1_100) for n in range(1, 11)]
    mail = render(env, rank(*huge), settings=settings)
    text, html = bodies(mail)
    assert mail.html_size <= 100_000
    assert 1 <= len(mail.paper_ids) < 10
    assert mail.paper_ids == tuple(p.id for p in huge[: len(mail.paper_ids)])
    dropped = 10 - len(mail.paper_ids)
    assert f"{dropped} more papers did not fit in this email." in html
    assert link(LINKS.archive_url, "View this edition in your browser").search(html)
    assert f"Read the whole email on the web:\n{LINKS.archive_url}\n" in text
    assert huge[len(mail.paper_ids)].title not in text  # the text part drops the same papers
    assert huge[len(mail.paper_ids) - 1].title in text


def test_no_browser_notice_when_everything_fits(env: jinja2.Environment) -> None:
    mail = render(env, rank(*(make_paper(n) for n in range(1, 11))))
    text, html = bodies(mail)
    assert len(mail.paper_ids) == 10
    assert "View this edition in your browser" not in html
    assert "did not fit" not in text


def test_an_impossible_budget_is_a_render_error(env: jinja2.Environment) -> None:
    settings = dataclasses.replace(SETTINGS, max_html_bytes=2_000)
    with pytest.raises(RenderError, match="max_html_bytes=2000"):
        render(env, basic_ranked(), settings=settings)


# --- templates and errors ------------------------------------------------------------------


def test_an_operator_template_overrides_the_shipped_one(tmp_path: Path) -> None:
    (tmp_path / "email.txt.j2").write_text("Hello {{ recipient }}: {{ papers|length }} papers\n")
    env = make_environment([tmp_path, TEMPLATES])
    text, html = bodies(render(env, basic_ranked()))
    assert text == "Hello reader@example.com: 3 papers\n"
    assert "You receive this because" in html  # the HTML still comes from the shipped dir


def test_an_unknown_variable_in_an_override_names_it(tmp_path: Path) -> None:
    (tmp_path / "email.html.j2").write_text("<p>{{ paper_count }} for {{ recipient }}</p>")
    env = make_environment([tmp_path, TEMPLATES])
    with pytest.raises(RenderError) as caught:
        render(env, basic_ranked())
    message = str(caught.value)
    assert "'paper_count' is undefined" in message
    assert str(tmp_path / "email.html.j2") in message
    assert "papers" in (caught.value.hint or "")


def test_a_syntax_error_in_an_override_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "email.txt.j2").write_text("fine\n{% for p in papers %}\nno endfor\n")
    env = make_environment([tmp_path, TEMPLATES])
    with pytest.raises(RenderError, match=r"email\.txt\.j2:\d+: "):
        render(env, basic_ranked())


def test_a_missing_template_names_it_and_the_directories(tmp_path: Path) -> None:
    env = make_environment([tmp_path])
    with pytest.raises(RenderError) as caught:
        render(env, basic_ranked())
    assert "email.html.j2" in str(caught.value)
    assert str(tmp_path) in str(caught.value)


def test_autoescape_is_on_for_html_and_off_for_text(tmp_path: Path) -> None:
    (tmp_path / "x.html.j2").write_text("{{ v }}")
    (tmp_path / "x.txt.j2").write_text("{{ v }}")
    env = make_environment([tmp_path])
    assert env.get_template("x.html.j2").render(v="<b>") == "&lt;b&gt;"
    assert env.get_template("x.txt.j2").render(v="<b>") == "<b>"


def test_nothing_to_send_is_a_render_error(env: jinja2.Environment) -> None:
    with pytest.raises(RenderError, match="no papers"):
        render(env, [])


def test_a_naive_now_is_refused(env: jinja2.Environment) -> None:
    with pytest.raises(RenderError, match="timezone-aware"):
        render(env, basic_ranked(), now=datetime(2024, 6, 11, 7, 30))


@pytest.mark.parametrize(
    "links",
    [
        dataclasses.replace(LINKS, unsubscribe_url="/unsubscribe/tok"),
        dataclasses.replace(LINKS, preferences_url="javascript:alert(1)"),
        dataclasses.replace(LINKS, archive_url="https://x.example/a b"),
        dataclasses.replace(LINKS, unsubscribe_mailto="unsubscribe@example.org"),
        dataclasses.replace(LINKS, unsubscribe_url="https://x.example/désabonner"),
    ],
)
def test_links_that_are_not_absolute_are_refused(env: jinja2.Environment, links: Links) -> None:
    with pytest.raises(RenderError):
        render(env, basic_ranked(), links=links)


@pytest.mark.parametrize(
    "changes",
    [
        {"from_address": "Daily Papers"},
        {"reply_to": "x@example.org\r\nBcc: y@example.org"},
        {"list_id": "daily papers"},
        {"base_url": "papers.example.org"},
    ],
)
def test_bad_settings_are_config_errors(changes: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        dataclasses.replace(SETTINGS, **changes)  # type: ignore[arg-type]


# --- view model ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authors", "count", "expected"),
    [
        (
            ("A. One", "B. Two", "C. Three", "D. Four"),
            12,
            "A. One, B. Two, C. Three et al. · 12 authors",
        ),
        (
            ("A. One", "B. Two", "C. Three", "D. Four"),
            None,
            "A. One, B. Two, C. Three et al. · 4 authors",
        ),
        (("A. One", "B. Two"), 12, "A. One, B. Two et al. · 12 authors"),
        (("A. One", "B. Two"), None, "A. One, B. Two"),
        (("A. One", "B. Two", "C. Three"), 3, "A. One, B. Two, C. Three"),
        ((), 7, "7 authors"),
        ((), 1, "1 author"),
        ((), None, ""),
        (("  A.\n One ", ""), None, "A. One"),
    ],
)
def test_authors_line(authors: tuple[str, ...], count: int | None, expected: str) -> None:
    assert authors_line(make_paper(authors=authors, author_count=count)) == expected


@pytest.mark.parametrize(
    ("upvotes", "comments", "stars", "expected"),
    [
        (42, 3, 58, "42 upvotes · 3 comments · 58 GitHub stars"),
        (1, 1, None, "1 upvote · 1 comment"),
        (None, None, 1234, "1,234 GitHub stars"),
        (1234, 0, 0, "1,234 upvotes"),  # no "0 comments · 0 GitHub stars"
        (0, None, None, "0 upvotes"),
        (None, None, None, ""),
    ],
)
def test_signals_line(
    upvotes: int | None, comments: int | None, stars: int | None, expected: str
) -> None:
    paper = make_paper(upvotes=upvotes, comments=comments, github_stars=stars)
    assert signals_line(paper) == expected


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, "https://huggingface.co/papers/2406.10001"),
        ({"url": None}, "https://arxiv.org/pdf/2406.10001"),
        ({"url": None, "pdf_url": None}, "https://arxiv.org/abs/2406.10001"),
        ({"id": "title-0123456789abcdef", "url": None, "pdf_url": None}, None),
        ({"id": "title-0123456789abcdef", "url": "ftp://x.org/p", "pdf_url": None}, None),
        (
            {"url": "/papers/2406.10001", "pdf_url": "arxiv.org/pdf/x"},
            "https://arxiv.org/abs/2406.10001",
        ),
    ],
)
def test_title_link_falls_back(changes: dict[str, object], expected: str | None) -> None:
    assert paper_url(make_paper(**changes)) == expected


def test_arxiv_and_pdf_links_only_for_arxiv_ids() -> None:
    arxiv = paper_links(make_paper(pdf_url=None))
    assert [(link.label, link.url) for link in arxiv] == [
        ("arXiv", "https://arxiv.org/abs/2406.10001"),
        ("PDF", "https://arxiv.org/pdf/2406.10001"),
        ("Code", "https://github.com/example/sparse-dit"),
    ]
    other = paper_links(make_paper(id="title-0123456789abcdef", pdf_url=None, github_url=None))
    assert other == ()
    relative_pdf = paper_links(make_paper(pdf_url="/pdf/2406.10001", github_url=None))
    assert [link.url for link in relative_pdf][1] == "https://arxiv.org/pdf/2406.10001"


def test_text_copies_are_wrapped_and_indented_for_their_columns() -> None:
    reason = "matches " + " ".join(f"topic{n}" for n in range(20))
    paper = make_paper(title="A title " + "long " * 20)
    (view,) = make_paper_views([RankedPaper(paper, 1.0, reason)], abstract_chars=400)
    assert view.text_number == "1.  "
    title_lines = view.text_title.split("\n")
    assert all(line.startswith("    ") for line in title_lines[1:])
    assert all(len(line) <= 78 for line in title_lines)  # the first line follows "1.  "
    reason_lines = view.text_reason.split("\n")
    assert len(reason_lines) > 1
    assert all(line.startswith(" " * 9) and len(line) <= 78 for line in reason_lines[1:])
    assert len(reason_lines[0]) <= 78 - 9


def test_blurb_prefers_the_ai_summary_and_trims_abstracts_at_a_word() -> None:
    summary = make_paper(ai_summary="Short  summary\nhere.")
    long = make_paper(abstract="word " * 200, ai_summary=None)
    views = make_paper_views(rank(summary, long), abstract_chars=50)
    assert views[0].blurb == "Short summary here."
    assert views[1].blurb.endswith("word…")
    assert len(views[1].blurb) <= 50
    assert [v.number for v in views] == [1, 2]


# --- golden files --------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "reader"), [("basic", READER), ("topics", "topics")])
@pytest.mark.parametrize(("part", "suffix"), [(0, "txt"), (1, "html")])
def test_golden(
    env: jinja2.Environment, part: int, suffix: str, name: str, reader: Subscriber | str
) -> None:
    """The basic edition, byte for byte as sent, to a reader without topics and to one with
    topics (its sections); DIGEST_REGEN_GOLDEN=1 rewrites the files."""
    if isinstance(reader, str):
        reader = dataclasses.replace(READER, topics=("diffusion",))
    body = sent_bodies(render(env, basic_ranked(), subscriber=reader))[part]
    golden = GOLDEN / f"daily-{name}.{suffix}"
    if os.environ.get("DIGEST_REGEN_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_bytes(body.encode())
    assert golden.exists(), f"{golden} is missing: run with DIGEST_REGEN_GOLDEN=1"
    assert body == golden.read_bytes().decode()


# --- what the email says of each paper, and in which order (issue 15) ------------------------


def topic_ranked() -> list[RankedPaper]:
    """A topic reader's ranking as rank gives it: matches and trending papers interleaved."""
    return [
        RankedPaper(make_paper(1), 3.0, "trending #1 today"),
        RankedPaper(make_paper(2), 2.9, 'matches "diffusion"', match="on diffusion"),
        RankedPaper(make_paper(3), 2.8, 'matches "video"', match="on video generation"),
        RankedPaper(make_paper(4), 2.7, 'matches "diffusion"', match="on diffusion"),
        RankedPaper(make_paper(5), 1.0, "trending #4 today"),
        RankedPaper(make_paper(6), 0.9, "you follow Ada Lovelace", match="by Ada Lovelace"),
    ]


TOPIC_READER = dataclasses.replace(READER, topics=("diffusion", "video generation"))


def test_a_reader_with_topics_gets_for_you_then_also_trending(env: jinja2.Environment) -> None:
    mail = render(env, topic_ranked(), subscriber=TOPIC_READER)
    text, html = bodies(mail)
    mine, rest = (
        ("2406.10002", "2406.10003", "2406.10004", "2406.10006"),
        ("2406.10001", "2406.10005"),
    )
    assert mail.paper_ids == (*mine, *rest)
    intro = "2 on diffusion, 1 on video generation, 1 by Ada Lovelace, and today's top 2."
    assert intro in html and intro in text.replace("\n", " ")
    at = {n: html.index(f'href="https://huggingface.co/papers/2406.1000{n}"') for n in (1, 2)}
    assert html.index(">For you<") < at[2] < html.index(">Also trending<") < at[1]
    assert "\nFor you\n-------\n\n1.  Paper number 2 " in text
    assert "\nAlso trending\n-------------\n\n5.  Paper number 1 " in text


def test_a_reader_without_topics_gets_one_list_and_no_headings(env: jinja2.Environment) -> None:
    mail = render(env, topic_ranked())
    text, html = bodies(mail)
    assert mail.paper_ids[0] == "2406.10001"
    assert "Today's top 6 papers." in html and "For you" not in html + text
    assert "Also trending" not in html + text


def test_nothing_matched_says_so(env: jinja2.Environment) -> None:
    ranked = [RankedPaper(make_paper(n), 1.0, f"trending #{n} today") for n in (1, 2)]
    _, html = bodies(render(env, ranked, subscriber=TOPIC_READER))
    assert "Nothing new matched your topics today; here are today&#39;s top 2." in html or (
        "Nothing new matched your topics today; here are today's top 2." in html
    )
    assert "For you" not in html and "Also trending" not in html


def test_the_reason_says_why_and_the_stats_say_how_much_once(env: jinja2.Environment) -> None:
    """Issue 15: "66 upvotes · 3 comments · ★ 229", then "matches "diffusion" · 66 upvotes ·
    3 comments · 229 GitHub stars": each number twice, written two ways."""
    paper = make_paper(1, upvotes=66, comments=3, github_stars=1229)
    ranked = [RankedPaper(paper, 1.0, 'matches "diffusion"', match="on diffusion")]
    text, html = bodies(render(env, ranked, subscriber=TOPIC_READER))
    for body in (text, html):
        assert body.count("66 upvotes") == 1 and body.count("1,229 GitHub stars") == 1
        assert "★" not in body and "&#9733;" not in body and "1229" not in body
    assert 'Why: matches "diffusion"\n' in text
    assert re.search(r'class="reason"[^>]*>matches "diffusion"</td>', html)


def test_a_trending_reason_that_repeats_the_number_is_left_out(env: jinja2.Environment) -> None:
    ranked = [
        RankedPaper(make_paper(1), 2.0, "trending #1 today"),
        RankedPaper(make_paper(2), 1.0, "trending #5 today"),
    ]
    text, _ = bodies(render(env, ranked))
    assert "trending #1 today" not in text  # paper 1 says so by its number
    assert "Why: trending #5 today" in text  # paper 2 is the edition's fifth
    text, _ = bodies(render(env, ranked, subscriber=TOPIC_READER))
    assert "Why: trending #1 today" in text  # in sections, numbers are not trending places


def test_thumbnails_are_off_by_default_and_sized_with_alt_text(env: jinja2.Environment) -> None:
    _, html = bodies(render(env, basic_ranked()))
    assert "<img" not in html
    on = dataclasses.replace(SETTINGS, thumbnails=True)
    _, html = bodies(render(env, basic_ranked(), settings=on))
    imgs = re.findall(r"<img [^>]*>", html)
    assert len(imgs) == 2  # the third paper is not one of Hugging Face's
    first = imgs[0]
    src = 'src="https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2406.10001.png"'
    assert src in first
    # the paper column's width (600 - 2 x 32 padding - 34 number), at the pictures' 1200x630
    assert 'width="500"' in first and 'height="263"' in first
    assert 'alt="Paper number 1 on sparse diffusion transformers"' in first
    no_hf = make_paper(1, url="https://example.org/p")
    _, html = bodies(render(env, rank(no_hf), settings=on))
    assert "<img" not in html  # only Hugging Face's papers have a picture


@pytest.mark.parametrize(
    ("matches", "period", "expected"),
    [
        (("on diffusion",) * 3 + ("",) * 5, "day", "3 on diffusion and today's top 5."),
        (
            ("on diffusion", "on video", "on diffusion", "", ""),
            "week",
            "2 on diffusion, 1 on video, and this week's top 2.",
        ),
        (
            ("on agents",) * 5 + ("by Ada Lovelace",),
            "day",
            "Today: 5 on agents and 1 by Ada Lovelace.",
        ),
        (("on agents",), "week", "This week: 1 on agents."),
    ],
)
def test_the_intro_names_what_matched(matches: tuple[str, ...], period: str, expected: str) -> None:
    assert intro_line(matches, period, interests=True) == expected


@pytest.mark.parametrize(
    "title",
    [
        "Café au lait: 日本語 retrieval for long documents",  # fold before an encoded word
        "Tue for xxxxxxxxxxxxxxxxxxxx naïve 11 Ünïcödé 日本語 Tue 11 Daily",
        "Looks encoded =?utf-8?q?x?= but is a title",
        "Long ASCII title words " + "x" * 20 + " more words to fold it Jun:",
    ],
)
def test_the_subject_reads_back_exactly_as_written(env: jinja2.Environment, title: str) -> None:
    """The stdlib folder dropped the space before an encoded word starting a folded line
    ("lait: 日本語" read back "lait:日本語"), and could fold right after "Subject:"."""
    edition = dataclasses.replace(EDITION, title="Papers")
    mail = render(env, rank(make_paper(1, title=title)), edition=edition)
    assert parse(mail)["Subject"] == mail.subject
    head = mail.raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    subject = head[head.index("Subject:") :].split("\r\n")
    assert all(len(line) <= 78 for line in subject if line.startswith(("Subject:", " ")))


def test_thumbnails_are_a_digest_setting(tmp_path: Path) -> None:
    """``thumbnails: true`` under a digest in schedules.yaml turns them on; off by default."""
    body = """\
base_url: https://papers.example.org
sender:
  from: "Daily Papers <papers@example.org>"
  postal_address: "1 Research Way"
digests:
  daily:
    sources: [hf-daily]
    schedule: "0 7 * * *"
    timezone: UTC
  pictures:
    sources: [hf-daily]
    schedule: "0 7 * * *"
    timezone: UTC
    thumbnails: true
"""
    (tmp_path / "schedules.yaml").write_text(body)
    config = load_config(tmp_path / "schedules.yaml", {})
    daily, pictures = config.digests
    assert not render_settings(config, daily).thumbnails
    assert render_settings(config, pictures).thumbnails
