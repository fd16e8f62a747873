"""The fast renderer: one edition for many readers, the templates rendered once.

:func:`digest.render.render_email` renders both templates and inlines the CSS for every
reader. :class:`EditionRenderer` does that work once per edition, and per reader only joins
strings, over ten times faster (bench/bench_render.py):

1. each paper a reader is shown is rendered once, in a *pattern* with slots for its number
   and reason (:mod:`digest.render.pattern`), and kept, cut into segments, by paper id;
2. a reader's email is the frame's and their papers' segments joined, the slots filled in;
   the size budget is checked by adding up segment sizes, not by rendering again;
3. :mod:`digest.render.mime` writes the message without the stdlib ``email`` package.

The first reader is also rendered the straightforward way and the two compared: if an
operator's template does something a pattern cannot replay (no markers, a paper block that
depends on its position, a filter on a per-reader value), every reader gets the slow path.
Memory is bounded by the edition's papers, never by its readers.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import jinja2

from digest.errors import RenderError
from digest.models import Edition, Email, Links, RankedPaper, Subscriber
from digest.render import (
    RenderedParts,
    RenderSettings,
    budget_error,
    check_now,
    make_email,
    make_headers,
    render_parts,
)
from digest.render.dkim import DkimSigner
from digest.render.pattern import (
    ATTRIBUTE,
    CONTEXTS,
    PLAIN,
    TEXT,
    Frame,
    PatternError,
    Segment,
    SlotValues,
    cut_layout,
    pattern_context,
    slot_values,
)
from digest.render.template import (
    HTML_TEMPLATE,
    TEXT_TEMPLATE,
    ascii_html,
    inline_css,
    render_template,
)
from digest.render.view import (
    PaperView,
    check_reader,
    clean,
    intro_line,
    long_date,
    make_paper_view,
    notice_line,
    preheader_line,
    sectioned,
    shown_reason,
    subject_line,
    text_number,
    text_reason,
    text_wrap,
)

_log = logging.getLogger(__name__)
_HTML_CONTEXTS = frozenset({TEXT, ATTRIBUTE})
_TEXT_CONTEXTS = frozenset({PLAIN})
PaperKey = tuple[str, bool, str]  # (paper id, shown with a reason, the section it opens)


class EditionRenderer:
    """Renders one edition for each of its readers; one instance per edition and run."""

    def __init__(
        self,
        edition: Edition,
        settings: RenderSettings,
        env: jinja2.Environment,
        now: datetime,
        *,
        signer: DkimSigner | None = None,
    ) -> None:
        check_now(now)
        self.edition, self.settings, self.env, self.now = edition, settings, env, now
        self.signer = signer
        self.headers = make_headers(edition, settings, now)
        self.slow_reason = ""  # why every reader takes the slow path, once one does
        self._checked = False  # the fast path was compared with the slow one for a reader
        self._views: dict[str, PaperView] = {}
        self._subjects: dict[str, str] = {}
        self._segments: dict[PaperKey, tuple[Segment, Segment]] = {}  # HTML, text
        self._frames: tuple[Frame, Frame] | None = None
        self._optional: tuple[bool, bool] | None = None  # patterns made with (mailto, VERP)?

    @property
    def fast(self) -> bool:
        """False once the templates turned out to need rendering per reader."""
        return not self.slow_reason

    @property
    def cached_papers(self) -> int:
        """Papers kept cut into segments, each with or without a reason: the memory in use."""
        return len(self._segments)

    def render(self, subscriber: Subscriber, ranked: Sequence[RankedPaper], links: Links) -> Email:
        """The message for ``subscriber``: ``ranked`` papers in order, with their links."""
        check_reader(self.edition, subscriber, ranked, links)
        parts = self._fast_parts(subscriber, ranked, links) if self.fast else None
        if parts is None or not self._checked:
            slow = render_parts(
                self.edition, subscriber, ranked, links, self.settings, self.now, self.env
            )
            if parts is not None:
                self._checked = True
                if parts != slow:
                    self._go_slow("the fast path differs from a full render of the templates")
            parts = slow
        return make_email(
            self.headers, self.edition, subscriber, links, self.settings, parts, self.signer
        )

    def _fast_parts(
        self, subscriber: Subscriber, ranked: Sequence[RankedPaper], links: Links
    ) -> RenderedParts | None:
        """This reader's parts from the cached pieces; None if this reader needs the slow path."""
        interests = bool(subscriber.topics or subscriber.authors)
        shown = sectioned(ranked, interests)
        ranked = [r for r, _ in shown]
        reasons = [_shown_values(r.reason, n, interests) for n, r in enumerate(ranked, 1)]
        keys = [
            (r.paper.id, bool(why), section)
            for (r, section), (why, _) in zip(shown, reasons, strict=True)
        ]
        optional = (links.unsubscribe_mailto is not None, links.return_path is not None)
        if not self._prepare(ranked, keys, optional):
            return None
        assert self._frames is not None
        html_frame, text_frame = self._frames
        papers = [
            {**_number_values(number), **values}
            for number, (_, values) in enumerate(reasons, start=1)
        ]
        html_papers = [self._segments[k][0].fill(v) for k, v in zip(keys, papers, strict=True)]
        views = [self._views[r.paper.id] for r in ranked]
        reader = self._reader_values(subscriber, links, views)
        matches = tuple(r.match for r in ranked)
        sizes = [len(html) for html in html_papers]
        count, values = self._fitting(html_frame, sizes, reader, matches, interests)
        dropped = len(ranked) - count
        html = _assemble(html_frame, html_papers[:count], values, dropped)
        kept = zip(keys[:count], papers[:count], strict=True)
        text = _assemble(
            text_frame, [self._segments[k][1].fill(v) for k, v in kept], values, dropped
        )
        paper_ids = tuple(v.id for v in views[:count])
        return RenderedParts(reader["subject"], text, html.encode("ascii"), paper_ids)

    def _reader_values(
        self, subscriber: Subscriber, links: Links, views: Sequence[PaperView]
    ) -> dict[str, str]:
        top = views[0]
        subject = self._subjects.get(top.id)
        if subject is None:
            subject = self._subjects[top.id] = subject_line(self.edition, top.title)
        return {
            "subject": subject,
            "preheader": preheader_line(v.title for v in views[:3]),
            "recipient": subscriber.email,
            "unsubscribe_url": links.unsubscribe_url,
            "unsubscribe_mailto": links.unsubscribe_mailto or "",
            "preferences_url": links.preferences_url,
            "archive_url": links.archive_url,
            "return_path": links.return_path or "",
        }

    def _fitting(
        self,
        frame: Frame,
        sizes: Sequence[int],
        reader: dict[str, str],
        matches: tuple[str, ...],
        interests: bool,
    ) -> tuple[int, SlotValues]:
        """How many papers fit in the HTML size budget, and the reader's values for that many.

        The HTML's size is added up from its pieces': nothing is rendered to be measured."""
        budget = self.settings.max_html_bytes
        period = self.settings.period
        for count in range(len(sizes), 0, -1):
            dropped = len(sizes) - count
            counted = _count_values(matches[:count], dropped, period, interests)
            values = SlotValues({**reader, **counted})
            size = frame.head.size(values) + frame.middle.size(values) + frame.tail.size(values)
            size += (count - 1) * frame.separator.size(values) + sum(sizes[:count])
            if dropped:
                size += frame.notice.size(values)
            if size <= budget:
                return count, values
        raise budget_error(budget)

    def _prepare(
        self, ranked: Sequence[RankedPaper], keys: list[PaperKey], optional: tuple[bool, bool]
    ) -> bool:
        """Whether every paper of ``ranked`` has its segments, making those it lacks."""
        if self._optional is None:
            self._optional = optional
        if optional != self._optional:
            return False  # patterns are made with or without a mailto link (VERP), not both
        missing = {k: r for k, r in zip(keys, ranked, strict=True) if k not in self._segments}
        if not missing:
            return True
        try:
            self._add_patterns(missing)
        except PatternError as exc:
            self._go_slow(str(exc))
            return False
        except RenderError:
            self._go_slow("the templates fail on a pattern; the slow path says why")
            return False
        return True

    def _go_slow(self, reason: str) -> None:
        """Render every reader in full from now on, and say so once: a big list then takes
        about ten times longer, which an operator with custom templates should know."""
        self.slow_reason = reason
        _log.warning("templates rendered in full for every reader (slower): %s", reason)

    def _add_patterns(self, missing: dict[PaperKey, RankedPaper]) -> None:
        """Render the papers in ``missing`` as one pattern and keep their segments."""
        settings = self.settings
        for (paper_id, _, _), ranked in missing.items():
            if paper_id not in self._views:
                view = make_paper_view(ranked.paper, settings.abstract_chars, settings.thumbnails)
                self._views[paper_id] = view
        batch = [(self._views[paper_id], why, section) for paper_id, why, section in missing]
        mailto, return_path = self._optional or (False, False)
        context = pattern_context(self._constants(), batch, mailto, return_path)
        html = inline_css(render_template(self.env, HTML_TEMPLATE, context))
        text = render_template(self.env, TEXT_TEMPLATE, context)
        html_layout = cut_layout(html, _HTML_CONTEXTS, ascii_html, len(batch))
        text_layout = cut_layout(text, _TEXT_CONTEXTS, _as_is, len(batch))
        frames = (html_layout.frame, text_layout.frame)
        if self._frames is None:
            self._frames = frames
        elif frames != self._frames:
            raise PatternError("the template writes different things around different papers")
        pairs = zip(html_layout.papers, text_layout.papers, strict=True)
        self._segments.update(zip(missing, pairs, strict=True))

    def _constants(self) -> dict[str, Any]:
        """The template variables that are the same for every reader of the edition."""
        return {
            "digest_title": clean(self.edition.title),
            "date_long": long_date(self.edition.date),
            "home_url": self.settings.base_url,
            "postal_address": clean(self.settings.postal_address),
        }


@functools.lru_cache(maxsize=8192)  # readers share reasons
def _reason_values(reason: str) -> tuple[str, dict[str, str]]:
    """A reason cleaned, and its slot values in every context (none if it is empty)."""
    why = clean(reason)
    if not why:
        return why, {}
    return why, {
        **slot_values("reason", why, CONTEXTS),
        **slot_values("text_reason", text_reason(why), CONTEXTS),
    }


@functools.lru_cache(maxsize=16384)  # readers share reasons, and reasons their places
def _shown_values(reason: str, number: int, sections: bool) -> tuple[str, dict[str, str]]:
    """The reason of the ``number``-th paper as the email shows it, and its slot values."""
    return _reason_values(shown_reason(clean(reason), number, sections))


@functools.lru_cache(maxsize=1024)
def _number_values(number: int) -> dict[str, str]:
    """A paper's number as its slots show it, in every context."""
    return {
        **slot_values("number", str(number), CONTEXTS),
        **slot_values("text_number", text_number(number), CONTEXTS),
    }


@functools.lru_cache(maxsize=4096)  # readers share what their papers matched
def _count_values(
    matches: tuple[str, ...], dropped: int, period: str, interests: bool
) -> dict[str, str]:
    """The reader values that depend on which papers fit (``matches``: what each matched)."""
    intro = intro_line(matches, period, interests)
    return {
        "intro": intro,
        "text_intro": text_wrap(intro),
        "dropped": str(dropped),
        "notice": notice_line(dropped),
    }


def _assemble(frame: Frame, papers: Sequence[str], values: SlotValues, dropped: int) -> str:
    """One part: the frame around the filled-in papers, and the notice if papers were dropped."""
    separator = frame.separator.fill(values)
    out = [frame.head.fill(values)]
    for i, paper in enumerate(papers):
        if i:
            out.append(separator)
        out.append(paper)
    out.append(frame.middle.fill(values))
    if dropped:
        out.append(frame.notice.fill(values))
    out.append(frame.tail.fill(values))
    return "".join(out)


def _as_is(text: str) -> str:
    return text
