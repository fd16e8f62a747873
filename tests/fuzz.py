"""The parsers' property tests share these: fixtures mutated at random, and the check that
any input gives papers with sane §5.1 fields or one clean one-line ParseError."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from digest.errors import ParseError
from digest.models import Paper, ParseResult
from digest.parse import parse_bytes

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Pieces of markup that mutations splice in, besides random bytes: half-open tags and
#: entities are what break HTML and XML readers.
MARKUP = (b"<", b">", b'"', b"&quot;", b"&#", b"<![", b"]]>", b"<article>", b"</h3>",
          b"<item>", b"</entry>", b"{", b"]")  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn, originals: Sequence[bytes]) -> bytes:
    """One of ``originals`` with a few slices cut, duplicated or overwritten."""
    data = bytearray(draw(st.sampled_from(originals)))
    for _ in range(draw(st.integers(1, 5))):
        start = draw(st.integers(0, len(data)))
        end = draw(st.integers(start, min(len(data), start + 300)))
        action = draw(st.sampled_from(["cut", "duplicate", "replace"]))
        if action == "cut":
            del data[start:end]
        elif action == "duplicate":
            data[start:start] = data[start:end]
        else:
            data[start:end] = draw(st.binary(max_size=20) | st.sampled_from(MARKUP))
    return bytes(data)


def parse_or_error(data: bytes, kind: str, today: date = date(2025, 11, 22)) -> ParseResult | None:
    """Parse; a clean ParseError is an allowed outcome (None), anything else fails the test,
    and so does a parser bug that ``parse_bytes`` caught and wrapped ("unexpected …")."""
    try:
        result = parse_bytes(data, kind=kind, source="prop", origin="prop.bin", today=today)
    except ParseError as exc:
        message = str(exc)
        assert message.strip() and "\n" not in message, message
        assert "unexpected" not in message, message
        return None
    for paper in result.papers:
        check_paper(paper)
    assert all("\n" not in problem for problem in result.problems)
    return result


def check_paper(paper: Paper) -> None:
    """The §5.1 field types hold whatever the input was."""
    assert paper.title and paper.title == " ".join(paper.title.split())
    assert paper.id and paper.sources == ("prop",)
    assert paper.abstract is None or (paper.abstract and "\n" not in paper.abstract)
    assert all(isinstance(name, str) and name for name in paper.authors)
    assert all(isinstance(word, str) and word for word in paper.keywords)
    for count in (paper.author_count, paper.upvotes, paper.comments, paper.github_stars):
        assert count is None or (type(count) is int and count >= 0)
    for day in (paper.published, paper.daily_date):
        assert day is None or type(day) is date
    for text in (paper.github_url, paper.ai_summary, paper.url, paper.pdf_url):
        assert text is None or (isinstance(text, str) and text)
