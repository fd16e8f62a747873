"""The view model of an email: each ranked paper as the display strings a template shows.

Templates hold layout only; everything that decides *what* a reader sees (trimming,
wrapping, link fallbacks, "et al.", plurals) happens here, in plain Python that tests can read.
Scraped text goes in as plain text: control characters are removed and whitespace collapsed,
and the HTML template autoescapes it.

A paper's view has two halves: what any reader sees of it (:func:`make_paper_view`, cached per
edition by :mod:`digest.render.edition`) and what depends on the reader, its number and reason
(:meth:`PaperView.ranked_as`). The reader-level strings (subject, intro, notice) are small
functions of their own for the same reason.

Just over 300 lines: one view per part of the email, each a few short functions.
"""

from __future__ import annotations

import dataclasses
import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from digest.errors import RenderError
from digest.models import Edition, Links, Paper, RankedPaper, Subscriber, collapse_whitespace

TEXT_WIDTH = 78  # columns of the plain-text part; only a URL, on a line of its own, is longer
TEXT_INDENT = 4  # email.txt.j2 starts a paper's lines 4 columns in ...
REASON_INDENT = 9  # ... and the reason 9 ("    Why: ")
MAX_AUTHORS = 3
SUBJECT_CHARS = 70  # a subject longer than this is cut in most inboxes
PREHEADER_CHARS = 100
FOR_YOU, ALSO_TRENDING = "For you", "Also trending"  # the sections of a reader with topics
_HF_PAPER = re.compile(r"https://huggingface\.co/papers/(\d{4}\.\d{4,5})")
# U+E000 and U+E001 are the slot marks of the fast path (digest.render.pattern): scraped text
# never carries them into a template.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ue000\ue001]")
_ARXIV_ID = re.compile(r"\d{4}\.\d{4,5}(v\d+)?|[a-z-]+(\.[A-Z]{2})?/\d{7}(v\d+)?")
_ABSOLUTE = re.compile(r"https?://[^/?#]", re.IGNORECASE)  # a scheme we link to, and a host
_URI_UNSAFE = re.compile(r"[^\x21-\x7e]|[<>]")  # header URIs: printable ASCII, no brackets
_ADDRESS_UNSAFE = re.compile(r"[\s<>]")


@dataclass(frozen=True, slots=True)
class LinkView:
    label: str
    url: str


@dataclass(frozen=True, slots=True)
class PaperView:
    """One paper as an email shows it; every string is display-ready, every URL absolute."""

    number: int
    id: str
    title: str
    url: str | None
    authors: str
    signals: str
    blurb: str
    reason: str
    links: tuple[LinkView, ...]  # arXiv, PDF, Code
    text_number: str  # the plain-text part's copies: "1.  ", then wrapped and indented
    text_title: str
    text_authors: str
    text_blurb: str
    text_reason: str
    text_links: tuple[LinkView, ...]  # the paper page first when it is not already a link
    thumbnail: str | None = None  # an image URL, when the digest shows thumbnails
    section: str = ""  # the heading of the section this paper opens ("For you"), or ""
    match: str = ""  # what it matched of the reader's ("on diffusion"), for the intro

    def ranked_as(
        self, number: int, reason: str, section: str = "", match: str = "", sections: bool = False
    ) -> PaperView:
        """This paper shown as a reader's ``number``-th, for ``reason`` (in an email in
        ``sections``, opening ``section`` when it is not empty)."""
        why = shown_reason(clean(reason), number, sections)
        return dataclasses.replace(
            self,
            number=number,
            reason=why,
            text_number=text_number(number),
            text_reason=text_reason(why),
            section=section,
            match=match,
        )


@dataclass(frozen=True, slots=True)
class EmailView:
    """Everything an email template may use: its fields are the template's variables."""

    subject: str
    digest_title: str
    date_long: str
    preheader: str
    intro: str  # "3 on diffusion, and today's top 5." ("this week's" for a weekly digest)
    text_intro: str  # the intro wrapped for the text part
    recipient: str
    home_url: str
    postal_address: str
    links: Links
    papers: tuple[PaperView, ...]
    dropped: int = 0  # papers left out to keep the HTML under its size budget
    notice: str = ""  # "2 more papers did not fit in this email.", or nothing
    period: str = "day"  # the digest's period, which the intro names
    interests: bool = False  # the reader has topics or follows authors

    def context(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def keeping(self, count: int) -> EmailView:
        """The same email with only its first ``count`` papers."""
        dropped = self.dropped + len(self.papers) - count
        papers = self.papers[:count]
        intro = intro_line([p.match for p in papers], self.period, self.interests)
        return dataclasses.replace(
            self,
            papers=papers,
            intro=intro,
            text_intro=text_wrap(intro),
            dropped=dropped,
            notice=notice_line(dropped),
        )


def make_email_view(
    edition: Edition,
    subscriber: Subscriber,
    ranked: Sequence[RankedPaper],
    links: Links,
    *,
    home_url: str,
    postal_address: str,
    abstract_chars: int,
    period: str = "day",
    thumbnails: bool = False,
) -> EmailView:
    """What ``subscriber`` is shown of ``edition``; RenderError if it cannot be shown."""
    check_reader(edition, subscriber, ranked, links)
    interests = bool(subscriber.topics or subscriber.authors)
    papers = make_paper_views(ranked, abstract_chars, interests, thumbnails)
    intro = intro_line([p.match for p in papers], period, interests)
    return EmailView(
        subject=subject_line(edition, papers[0].title),
        digest_title=clean(edition.title),
        date_long=long_date(edition.date),
        preheader=preheader_line(p.title for p in papers[:3]),
        intro=intro,
        text_intro=text_wrap(intro),
        period=period,
        interests=interests,
        recipient=subscriber.email,
        home_url=home_url,
        postal_address=clean(postal_address),
        links=links,
        papers=papers,
    )


def check_reader(
    edition: Edition, subscriber: Subscriber, ranked: Sequence[RankedPaper], links: Links
) -> None:
    """RenderError unless there is something to show, an address and absolute links."""
    if not ranked:
        raise RenderError(f"edition {edition.key} has no papers for {subscriber.email}")
    if has_control(subscriber.email) or "@" not in subscriber.email:
        raise RenderError(f"not an email address: {subscriber.email!r}")
    for url in (links.unsubscribe_url, links.preferences_url, links.archive_url):
        if not is_absolute(url) or _URI_UNSAFE.search(url):
            raise RenderError(f"email links must be absolute ASCII http(s) URLs, got {url!r}")
    mailto = links.unsubscribe_mailto
    if mailto is not None and (not mailto.startswith("mailto:") or _URI_UNSAFE.search(mailto)):
        raise RenderError(f"unsubscribe_mailto must be a mailto: URI, got {mailto!r}")
    path = links.return_path
    if path is not None and (has_control(path) or "@" not in path or _ADDRESS_UNSAFE.search(path)):
        raise RenderError(f"the return path must be an email address, got {path!r}")


def subject_line(edition: Edition, top_title: str) -> str:
    """``"Daily Papers — Tue 11 Jun: <the first paper's title>"`` in at most
    :data:`SUBJECT_CHARS` characters, the title cut at a word. The first paper is the
    reader's strongest match, or the edition's top paper for a reader without topics."""
    day = edition.date
    head = f"{shorten(clean(edition.title), 30)} — {day:%a} {day.day} {day:%b}: "
    return head + shorten(top_title, SUBJECT_CHARS - len(head))


def long_date(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B} {day.year}"


def preheader_line(titles: Iterable[str]) -> str:
    """The inbox preview line: the first titles, cut to what a client shows."""
    return shorten(" · ".join(titles), PREHEADER_CHARS)


#: What an edition's intro calls its period.
WHEN = {"day": "today", "week": "this week", "month": "this month"}


def intro_line(matches: Sequence[str], period: str = "day", interests: bool = False) -> str:
    """``"3 on diffusion, 2 on video generation, and today's top 5."``: what the papers
    matched (``matches``, one per paper, "" for a trending one), then the trending rest."""
    when = WHEN.get(period, "today")
    top = f"{when}'s top"
    trending = sum(1 for m in matches if not m)
    if not interests:
        line = f"{top} {_papers(len(matches))}."
        return line[0].upper() + line[1:]
    counts: dict[str, int] = {}
    for match in matches:
        if match:
            counts[match] = counts.get(match, 0) + 1
    if not counts:
        return f"Nothing new matched your topics {when}; here are {top} {trending}."
    parts = [f"{n} {match}" for match, n in counts.items()]
    if not trending:  # "Today: 5 on agents and 3 on video generation."
        return f"{when[0].upper()}{when[1:]}: {_listed(parts)}."
    return _listed([*parts, f"{top} {trending}"]) + "."


def _listed(parts: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b, and c``."""
    if len(parts) < 3:
        return " and ".join(parts)
    return ", ".join(parts[:-1]) + f", and {parts[-1]}"


def _papers(count: int) -> str:
    return "paper" if count == 1 else f"{count} papers"


def shown_reason(reason: str, number: int, sections: bool = False) -> str:
    """The reason as the email shows it: in a single list (no sections), ``trending #3
    today`` next to paper 3 says nothing the number does not, so it is left out."""
    return "" if not sections and reason.startswith(f"trending #{number} ") else reason


def text_wrap(text: str) -> str:
    """A paragraph of the text part, wrapped at :data:`TEXT_WIDTH`."""
    return _wrap(text, 0)


def notice_line(dropped: int) -> str:
    if not dropped:
        return ""
    return f"{dropped} more paper{'s' if dropped != 1 else ''} did not fit in this email."


def sectioned(ranked: Sequence[RankedPaper], interests: bool) -> list[tuple[RankedPaper, str]]:
    """The papers in the order the email shows them, each with the heading of the section
    it opens: for a reader with topics, what matched them ("For you") before the rest
    ("Also trending"), each part in rank order; for anyone else, rank order, no headings."""
    if not interests:
        return [(r, "") for r in ranked]
    mine = [r for r in ranked if r.match]
    rest = [r for r in ranked if not r.match]
    out = [(r, FOR_YOU if i == 0 else "") for i, r in enumerate(mine)]
    return out + [(r, ALSO_TRENDING if i == 0 and mine else "") for i, r in enumerate(rest)]


def make_paper_views(
    ranked: Sequence[RankedPaper],
    abstract_chars: int,
    interests: bool = False,
    thumbnails: bool = False,
) -> tuple[PaperView, ...]:
    """The view of each ranked paper, in sections (:func:`sectioned`), numbered from 1."""
    return tuple(
        make_paper_view(r.paper, abstract_chars, thumbnails).ranked_as(
            n, r.reason, heading, r.match, interests
        )
        for n, (r, heading) in enumerate(sectioned(ranked, interests), start=1)
    )


def make_paper_view(paper: Paper, abstract_chars: int, thumbnails: bool = False) -> PaperView:
    """What every reader sees of ``paper``; its number and reason are left blank."""
    title, url, links = clean(paper.title) or "(untitled)", paper_url(paper), paper_links(paper)
    blurb = shorten(clean(paper.ai_summary or paper.abstract), abstract_chars)
    extra = () if url is None or url in {link.url for link in links} else (LinkView("Paper", url),)
    authors = authors_line(paper)
    return PaperView(
        number=0,
        id=paper.id,
        title=title,
        url=url,
        authors=authors,
        signals=signals_line(paper),
        blurb=blurb,
        reason="",
        links=links,
        text_number="",
        text_title=_wrap(title, TEXT_INDENT),
        text_authors=_wrap(authors, TEXT_INDENT),
        text_blurb=_wrap(blurb, TEXT_INDENT),
        text_reason="",
        text_links=extra + links,
        thumbnail=thumbnail_url(paper) if thumbnails else None,
    )


def thumbnail_url(paper: Paper) -> str | None:
    """Hugging Face's picture of a paper of its daily list (the ``thumbnail`` its API gives
    is always this address), or None for a paper from elsewhere."""
    found = _HF_PAPER.fullmatch(paper.url or "")
    if found is None:
        return None
    return f"https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/{found[1]}.png"


def text_number(number: int) -> str:
    return f"{number}.".ljust(TEXT_INDENT)


def text_reason(reason: str) -> str:
    """A cleaned reason wrapped for the text part; most fit on one line and skip textwrap."""
    if len(reason) <= TEXT_WIDTH - REASON_INDENT:
        return reason
    return _wrap(reason, REASON_INDENT)


def clean(text: str | None) -> str:
    """Plain one-line text: control and bidi-override characters gone, whitespace collapsed."""
    return collapse_whitespace(_CONTROL.sub(" ", text or ""))


def has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def shorten(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters, ending in "…"."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    head = cut.rpartition(" ")[0] or cut
    return head.rstrip(" ,;:.-—·") + "…"


def is_absolute(url: str | None) -> bool:
    """An http(s) URL with a host and no control characters (checked once per reader for
    each link, so a regular expression rather than urlsplit)."""
    if not url:
        return False
    return _ABSOLUTE.match(url) is not None and not has_control(url)


def is_arxiv_id(paper_id: str) -> bool:
    return _ARXIV_ID.fullmatch(paper_id) is not None


def paper_url(paper: Paper) -> str | None:
    """Where the title links: the paper page, else the PDF, else the arXiv abstract."""
    return _first_absolute(paper.url, paper.pdf_url, _arxiv_url(paper, "abs"))


def paper_links(paper: Paper) -> tuple[LinkView, ...]:
    """The arXiv, PDF and code links a paper has, absolute URLs only."""
    candidates = (
        ("arXiv", _arxiv_url(paper, "abs")),
        ("PDF", _first_absolute(paper.pdf_url, _arxiv_url(paper, "pdf"))),
        ("Code", _first_absolute(paper.github_url)),
    )
    return tuple(LinkView(label, url) for label, url in candidates if url)


def _arxiv_url(paper: Paper, kind: str) -> str | None:
    return f"https://arxiv.org/{kind}/{paper.id}" if is_arxiv_id(paper.id) else None


def _first_absolute(*urls: str | None) -> str | None:
    return next((url for url in urls if is_absolute(url)), None)


def authors_line(paper: Paper) -> str:
    """``"A. One, B. Two, C. Three et al. · 12 authors"``, ``"7 authors"`` or ``""``."""
    names = [name for name in (clean(a) for a in paper.authors) if name]
    count = paper.author_count if paper.author_count is not None else len(names)
    shown = ", ".join(names[:MAX_AUTHORS])
    if count <= len(names[:MAX_AUTHORS]):
        return shown
    tally = f"{count:,} author{'s' if count != 1 else ''}"
    return f"{shown} et al. · {tally}" if shown else tally


def signals_line(paper: Paper) -> str:
    """How much attention the paper has, each number written one way:
    ``"1,042 upvotes · 3 comments · 58 GitHub stars"``; unknown signals and zero comments
    or stars are left out."""
    parts = []
    if paper.upvotes is not None:
        parts.append(_plural(paper.upvotes, "upvote"))
    if paper.comments:
        parts.append(_plural(paper.comments, "comment"))
    if paper.github_stars:
        parts.append(_plural(paper.github_stars, "GitHub star"))
    return " · ".join(parts)


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _wrap(text: str, indent: int) -> str:
    """``text`` wrapped to end by column TEXT_WIDTH when printed from column ``indent``."""
    lines = textwrap.wrap(text, TEXT_WIDTH - indent, break_long_words=False, break_on_hyphens=False)
    return ("\n" + " " * indent).join(lines)
