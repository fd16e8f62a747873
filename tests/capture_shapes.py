"""Plain-text captures generated from real HF items, in the shapes PRODUCT §5.2 allows.

``render(items, shape, page)`` writes a capture of the items the way a browser's "save as
text" or a copy-paste of a Daily Papers day page or paper-search page might, and returns it
with the papers a parser must find (the ground truth). ``random_shape(rng)`` draws one shape
from every axis at once; the tests also name a few by hand.

Run it as a script to measure the text parser on whole months of HF items (300 random
captures of up to 60 items each, then every named shape over the whole month)::

    .venv/bin/python tests/capture_shapes.py ../shared/data/hf-api/daily_papers_2025-11.json
"""

from __future__ import annotations

import json
import random
import sys
import textwrap
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
LONG_MONTHS = ("January", "February", "March", "April", "May", "June", "July")
LONG_MONTHS += ("August", "September", "October", "November", "December")
MINOR = frozenset(("a", "an", "and", "as", "at", "by", "for", "from", "in", "into", "of", "on"))
MINOR |= {"or", "the", "to", "via", "with"}
BANNERS = (
    "new",
    "Get trending papers in your email inbox!",
    "Get trending papers in your email inbox once a day!",
    "Subscribe",
    "Daily Papers",
    "byAK and the research community",
)


@dataclass(frozen=True)
class Item:
    """One real HF item, reduced to what a capture shows."""

    title: str
    abstract: str
    authors: int
    published: date
    upvotes: int
    comments: int
    submitter: str
    organization: str | None


@dataclass(frozen=True)
class Expected:
    """What the parser must make of one entry."""

    title: str
    abstract: str | None
    authors: int | None
    published: date | None
    upvotes: int | None


@dataclass(frozen=True)
class Shape:
    """How a capture is written; ``mixed`` values are drawn again for each entry."""

    layout: str = "blocks"  # blocks | lines | entries
    meta: str = "split"  # split | inline | dot-after | dot-before | authors | date | none | mixed
    bullet: str = "• "  # "• ", "", "· ", "  • "
    votes: str = "none"  # none | trailing | line | mixed
    date_style: str = "short"  # short ("Jun 11, 2024") | no-comma | long | mixed
    banner: tuple[str, ...] = BANNERS
    banner_case: str = "as-is"  # as-is | upper | lower | mixed
    page_date: str = "short"  # short ("Oct 28") | year ("Oct 28, 2025") | none
    glue: str = "none"  # none | title (banner glued to the first title) | date | both
    wrap: int | None = None
    hyphens: bool = False  # the wrapper may break after a hyphen
    eol: str = "\n"
    nbsp: bool = False
    trailing: bool = False
    tabs: bool = False
    day_page: bool = False  # "Submitted by", upvote and comment counts, organisations
    abstract: str = "full"  # full | short | no-period | short-no-period | none | mixed
    title: str = "as-is"  # as-is | mixed (?, !, "Dr. Who", long, unicode variants)


SHAPES = {  # named shapes the tests read exactly, each axis at least once
    "blank-line blocks": Shape(),
    "one line per field": Shape(layout="lines"),
    "blank line between entries, inline group": Shape(layout="entries", meta="inline"),
    "'7 authors ·' then the date": Shape(layout="lines", meta="dot-after", bullet=""),
    "'· date' under the authors": Shape(layout="lines", meta="dot-before", bullet="· "),
    "authors only": Shape(meta="authors"),
    "date only, trailing upvotes": Shape(layout="entries", meta="date", votes="trailing"),
    "no author/date lines": Shape(meta="none"),
    "no author/date lines, no blank lines": Shape(layout="lines", meta="none"),
    "some entries without a group": Shape(
        layout="lines", meta="mixed", votes="mixed", date_style="mixed"
    ),
    "upvotes on their own line": Shape(layout="lines", votes="line", bullet="  • "),
    "banner upper case, glued": Shape(banner_case="upper", glue="both", page_date="year"),
    "banner lower case, glued to the title": Shape(
        layout="lines", banner_case="lower", glue="title"
    ),
    "no banner, no page date": Shape(banner=(), page_date="none"),
    "CRLF, NBSP, tabs, trailing spaces": Shape(
        layout="lines", eol="\r\n", nbsp=True, trailing=True, tabs=True
    ),
    "short abstracts": Shape(layout="lines", abstract="short"),
    "short abstracts without a period": Shape(layout="lines", abstract="short-no-period"),
    "abstracts without a final period": Shape(layout="entries", abstract="no-period"),
    "odd titles and abstracts": Shape(layout="lines", abstract="mixed", title="mixed"),
    "titles only": Shape(layout="lines", abstract="none"),
    "wrapped at 80, blocks": Shape(wrap=80),
    "wrapped at 80, no blank lines": Shape(layout="lines", wrap=80),
    "wrapped at 100, no group, no blank lines": Shape(layout="lines", meta="none", wrap=100),
    "wrapped at 76, titles only": Shape(layout="lines", abstract="none", wrap=76),
    "day page": Shape(day_page=True),
    "day page, no blank lines": Shape(layout="lines", day_page=True, meta="inline"),
    "day page, titles only": Shape(layout="lines", day_page=True, abstract="none"),
    "day page, wrapped at 80 after hyphens": Shape(
        layout="entries", day_page=True, wrap=80, hyphens=True
    ),
    "day page, no author/date lines": Shape(layout="lines", day_page=True, meta="none"),
}


HARD_SHAPES = {  # wrapped, no blank lines: a lower-case title's full line reads as prose
    "wrapped at 72 after hyphens": Shape(layout="entries", wrap=72, hyphens=True),
    "wrapped at 100, odd titles and abstracts": Shape(
        layout="lines", wrap=100, abstract="mixed", title="mixed"
    ),
}


@dataclass
class _Writer:
    shape: Shape
    rng: random.Random
    page: date
    reference: date  # what a year-less date is resolved against
    lines: list[str] = field(default_factory=list)
    expected: list[Expected] = field(default_factory=list)
    noise: int = 0  # lines the parser must report (organisation names)
    titles: list[str] = field(default_factory=list)  # for long made-up titles


def load_items(path: Path) -> list[Item]:
    """Items of an HF daily_papers JSON file (the API's shape or a trimmed slice of it)."""
    items = []
    for entry in json.loads(path.read_text(encoding="utf-8")):
        paper: dict[str, Any] = entry.get("paper", entry)
        items.append(
            Item(
                title=" ".join(paper["title"].split()),
                abstract=" ".join(paper["summary"].split()),
                authors=len(paper["authors"]),
                published=date.fromisoformat(paper["publishedAt"][:10]),
                upvotes=int(paper.get("upvotes") or 0),
                comments=int(entry.get("numComments") or 0),
                submitter=(entry.get("submittedBy") or {}).get("name") or "akhaliq",
                organization=(entry.get("organization") or {}).get("fullname"),
            )
        )
    return items


def random_shape(rng: random.Random) -> Shape:
    """One shape with every axis drawn at random."""
    banner = rng.sample(BANNERS, rng.randint(0, len(BANNERS)))
    return Shape(
        layout=rng.choice(["blocks", "lines", "entries"]),
        meta=rng.choice(["split", "inline", "dot-after", "dot-before", "authors", "date"] * 2)
        if rng.random() < 0.8
        else rng.choice(["none", "mixed"]),
        bullet=rng.choice(["• ", "", "· ", "  • "]),
        votes=rng.choice(["none", "trailing", "line", "mixed"]),
        date_style=rng.choice(["short", "short", "no-comma", "long", "mixed"]),
        banner=tuple(banner),
        banner_case=rng.choice(["as-is", "as-is", "upper", "lower", "mixed"]),
        page_date=rng.choice(["short", "short", "year", "none"]),
        glue=rng.choice(["none", "title", "date", "both"]),
        wrap=rng.choice([None, None, 72, 76, 80, 80, 100]),
        hyphens=rng.random() < 0.5,
        eol=rng.choice(["\n", "\n", "\r\n"]),
        nbsp=rng.random() < 0.3,
        trailing=rng.random() < 0.3,
        tabs=rng.random() < 0.2,
        day_page=rng.random() < 0.3,
        abstract=rng.choice(["full", "full", "short", "no-period", "short-no-period", "mixed"])
        if rng.random() < 0.9
        else "none",
        title=rng.choice(["as-is", "mixed"]),
    )


def render(
    items: list[Item], shape: Shape, page: date, seed: int = 0
) -> tuple[str, date, list[Expected], int]:
    """The capture text, the ``today`` to parse it with, the papers, the lines to report."""
    rng = random.Random(seed)
    today = page + timedelta(days=rng.choice([0, 1, 3, 30, 200]))
    if shape.abstract == "none" and shape.meta in ("none", "mixed"):
        shape = replace(shape, meta="split")  # a bare title is not a paper
    reference = today if shape.page_date == "none" else page
    writer = _Writer(shape, rng, page, reference, titles=[item.title for item in items])
    _banner(writer)
    for item in items:
        _entry(writer, item)
    text = _finish(writer)
    return text, today, writer.expected, writer.noise


def _banner(writer: _Writer) -> None:
    shape, rng = writer.shape, writer.rng
    lines = [_case(line, shape.banner_case, rng) for line in shape.banner]
    if shape.page_date != "none":
        stamp = f"{MONTHS[writer.page.month - 1]} {writer.page.day}"
        stamp += f", {writer.page.year}" if shape.page_date == "year" else ""
        lines.insert(rng.randint(0, len(lines)), stamp)
        if shape.glue in ("date", "both") and "byAK and the research community" in shape.banner:
            lines.remove(stamp)
            by = next(i for i, line in enumerate(lines) if line.lower().startswith("byak"))
            lines[by] += stamp
    writer.lines.extend(lines)
    if shape.glue in ("title", "both") and lines:
        writer.lines.append("<glue>")
    elif lines and shape.layout != "lines":
        writer.lines.append("")


def _case(text: str, case: str, rng: random.Random) -> str:
    case = rng.choice(["as-is", "upper", "lower"]) if case == "mixed" else case
    return text.upper() if case == "upper" else text.lower() if case == "lower" else text


def _entry(writer: _Writer, item: Item) -> None:
    shape, rng = writer.shape, writer.rng
    meta = _pick(shape.meta, ["split", "inline", "dot-after", "dot-before", "none"], rng)
    abstract_kind = _pick(shape.abstract, ["full", "short", "no-period", "short-no-period"], rng)
    if abstract_kind == "none" and meta == "none":
        meta = "split"
    title = _title(item, shape.title, writer.titles, rng)
    abstract = _abstract(item.abstract, abstract_kind)
    votes = _pick(shape.votes, ["none", "trailing", "line"], rng)
    if meta in ("authors", "none"):
        votes = "none"
    published, meta_lines = _meta(writer, item, meta, votes)
    blocks: list[list[str]] = []
    if shape.day_page:
        blocks.append(_submitted(item, rng))
    blocks.append(_wrap(title, shape, rng))
    if abstract is not None:
        blocks.append(_wrap(abstract, shape, rng))
    blocks.extend([line] for line in meta_lines)
    if shape.day_page:
        blocks.extend(_after(writer, item))
    _emit(writer, blocks)
    writer.expected.append(
        Expected(
            title=title,
            abstract=abstract,
            authors=item.authors if meta not in ("date", "none") else None,
            published=published,
            upvotes=item.upvotes if votes != "none" else None,
        )
    )


def _pick(value: str, choices: list[str], rng: random.Random) -> str:
    return rng.choice(choices) if value == "mixed" else value


def _title(item: Item, kind: str, others: list[str], rng: random.Random) -> str:
    """The real title, or (``mixed``) a variant with the punctuation captures must survive."""
    if kind != "mixed":
        return item.title
    variant = rng.choice(["as-is", "as-is", "?", "!", "dotted", "doctor", "long", "unicode"])
    if variant in ("?", "!"):
        return item.title.rstrip("?!.") + variant
    if variant == "dotted":
        return f"GPT-4.5 Scales: {item.title}"
    if variant == "doctor":
        return f"Dr. Who Meets {item.title}"
    if variant == "long":
        return f"{item.title} and {rng.choice(others)}"[:200].rstrip(" :,-")
    return rng.choice(["Über ", "Étude: ", "多模态 ", "Φ-", "μLO and "]) + item.title


def _abstract(abstract: str, kind: str) -> str | None:
    if kind == "none":
        return None
    if kind in ("short", "short-no-period"):
        words = abstract.split()[: 6 + len(abstract) % 9]
        while words[-1].lower() in MINOR or words[-1].isdigit():  # not at "… and", "… 16"
            words.pop()
        abstract = " ".join(words)
        abstract = abstract.rstrip(".,;:") + ("." if kind == "short" else "")
    if kind == "no-period":
        abstract = abstract.rstrip(". ")
    return abstract


def _meta(writer: _Writer, item: Item, meta: str, votes: str) -> tuple[date | None, list[str]]:
    """The author/date lines of one entry, and the date they stand for."""
    shape, rng = writer.shape, writer.rng
    noun = "author" if item.authors == 1 else "authors"
    authors = f"{shape.bullet}{item.authors} {noun}"
    stamp = _date(item.published, writer.reference, shape.date_style, item.upvotes, rng)
    if votes == "trailing":
        stamp += f" {item.upvotes}"
    lines = {
        "split": [authors, "·", stamp],
        "inline": [f"{authors} · {stamp}"],
        "dot-after": [f"{authors} ·", stamp],
        "dot-before": [authors, f"· {stamp}"],
        "authors": [authors],
        "date": [stamp],
        "none": [],
    }[meta]
    if votes == "line":
        lines.append(str(item.upvotes))
    if shape.nbsp:
        lines = [line.replace(" ", "\u00a0", rng.randint(0, 2)) for line in lines]
    return (item.published if meta not in ("authors", "none") else None), lines


def _date(day: date, reference: date, style: str, votes: int, rng: random.Random) -> str:
    """``Jun 11, 2024``, or ``Jun 11`` when the reference's year makes it unambiguous."""
    style = rng.choice(["short", "no-comma", "long"]) if style == "mixed" else style
    month = (LONG_MONTHS if style == "long" else MONTHS)[day.month - 1]
    year_less = day.year == reference.year and day <= reference
    if year_less and not 1900 <= votes <= 2099:  # "Jun 26 2024": votes or a year?
        return f"{month} {day.day}"
    return f"{month} {day.day}{'' if style == 'no-comma' else ','} {day.year}"


def _submitted(item: Item, rng: random.Random) -> list[str]:
    """Day-page lines before the title: the submitter and the upvote count."""
    submitter = rng.choice([[f"Submitted by {item.submitter}"], ["Submitted by", item.submitter]])
    return submitter + rng.choice([[], [str(item.upvotes)]])


def _after(writer: _Writer, item: Item) -> list[list[str]]:
    """Day-page lines after the author/date group: organisation, comment count."""
    blocks = []
    if item.organization:
        blocks.append([item.organization.strip()])
        writer.noise += 1
    if item.comments:  # a bare count right under a date would read as upvotes
        count = item.comments
        bare = item.organization and writer.rng.random() < 0.5
        blocks.append([str(count) if bare else f"{count} comments"])
    return blocks


def _wrap(text: str, shape: Shape, rng: random.Random) -> list[str]:
    if shape.nbsp and rng.random() < 0.3:
        text = text.replace(" ", "\u00a0", 1)
    if shape.wrap is None:
        return [text]
    return textwrap.wrap(
        text, shape.wrap, break_on_hyphens=shape.hyphens, break_long_words=False
    ) or [text]


def _emit(writer: _Writer, blocks: list[list[str]]) -> None:
    """Blocks of lines, separated by blank lines as the layout says."""
    layout = writer.shape.layout
    for index, block in enumerate(blocks):
        if layout == "blocks" and index:
            writer.lines.append("")
        writer.lines.extend(block)
    if layout != "lines":
        writer.lines.append("")


def _finish(writer: _Writer) -> str:
    shape, rng = writer.shape, writer.rng
    out: list[str] = []
    glue = False
    for line in writer.lines:
        if line == "<glue>":
            glue = True
            continue
        if shape.tabs and line and rng.random() < 0.3:
            line = rng.choice(["\t", "  ", "\t "]) + line
        if shape.trailing and line and rng.random() < 0.3:
            line += rng.choice([" ", "  ", "\t", "\u00a0"])
        if glue and line:
            glue = False
            # "Oct 28" + "3D-…", "new" + "on…" or "NEW" + "GPT…" (NEWT?) are ambiguous
            if line.lstrip()[:1].isupper() and out[-1].strip() != "NEW":
                out[-1] = out[-1].rstrip() + line.lstrip()
                continue
            out.append(line)
        else:
            out.append(line)
    return shape.eol.join(out) + shape.eol


# ---------------------------------------------------------------------------------------
# Measuring the parser on whole months (not part of the test suite).


def measure(items: list[Item], runs: int, seed: int) -> Counter[str]:
    """Render ``runs`` random captures of random runs of items, parse, count what is right."""
    from digest.errors import ParseError
    from digest.parse import parse_bytes

    rng = random.Random(seed)
    counts: Counter[str] = Counter()
    for run in range(runs):
        shape = random_shape(rng)
        start = rng.randrange(len(items))
        chosen = (items[start:] + items[:start])[: rng.randint(1, 60)]
        page = max(item.published for item in chosen) + timedelta(days=rng.randint(0, 40))
        text, today, expected, noise = render(chosen, shape, page, seed=run)
        try:
            result = parse_bytes(text.encode(), kind="text", source="t", today=today)
            papers = result.papers
            problems = len(result.problems)
        except ParseError:
            papers, problems = (), 0
        counts += _score(expected, papers, problems, noise, shape, run)
    return counts


def _score(
    expected: list[Expected], papers: Any, problems: int, noise: int, shape: Shape, run: int
) -> Counter[str]:
    counts: Counter[str] = Counter(expected=len(expected), parsed=len(papers))
    by_title = {paper.title: paper for paper in papers}
    wrong = 0
    for want in expected:
        got = by_title.get(want.title)
        if got is None:
            wrong += 1
            continue
        counts["title"] += 1
        counts["abstract"] += got.abstract == want.abstract
        counts["authors"] += got.author_count == want.authors
        counts["date"] += got.published == want.published
        counts["upvotes"] += got.upvotes == want.upvotes
        exact = (got.abstract, got.author_count, got.published, got.upvotes) == (
            want.abstract,
            want.authors,
            want.published,
            want.upvotes,
        )
        wrong += not exact
    counts["spurious"] += len(set(by_title) - {want.title for want in expected})
    counts["captures"] += 1
    counts["captures exact"] += wrong == 0 and len(papers) == len(expected)
    counts["problems expected"] += noise
    counts["problems reported"] += problems
    if wrong and "--verbose" in sys.argv:
        print(f"run {run}: {wrong} wrong, {shape}")
    return counts


def whole(items: list[Item]) -> tuple[int, int, int, list[tuple[int, str]]]:
    """Every named shape over all the items: papers expected, read exactly, made up, and
    the papers missed or wrong per shape."""
    from digest.errors import ParseError
    from digest.parse import parse_bytes

    page = max(item.published for item in items) + timedelta(days=2)
    total = right = made_up = 0
    misses = []
    for name, shape in {**SHAPES, **HARD_SHAPES}.items():
        text, today, expected, _ = render(items, shape, page, seed=3)
        try:
            papers = parse_bytes(text.encode(), kind="text", source="t", today=today).papers
        except ParseError:
            papers = ()
        got = {(p.title, p.abstract, p.author_count, p.published, p.upvotes) for p in papers}
        wanted = [(e.title, e.abstract, e.authors, e.published, e.upvotes) for e in expected]
        total, right = total + len(wanted), right + sum(row in got for row in wanted)
        made_up += len({p.title for p in papers} - {e.title for e in expected})
        misses.append((sum(row not in got for row in wanted), name))
    return total, right, made_up, sorted(misses, reverse=True)


def main(paths: list[str]) -> None:
    for path in paths:
        items = load_items(Path(path))
        counts = measure(items, runs=300, seed=7)
        total = counts["expected"]
        print(f"{Path(path).name}: {counts['captures']} random captures, {total} papers expected")
        for key in ("parsed", "title", "abstract", "authors", "date", "upvotes", "spurious"):
            print(f"  {key:9} {counts[key]:6}  {100 * counts[key] / total:6.2f}%")
        exact = counts["captures exact"]
        print(f"  captures entirely right: {exact}/{counts['captures']}")
        print(
            f"  problems reported {counts['problems reported']}"
            f" (organisation lines {counts['problems expected']})"
        )
        total, right, made_up, misses = whole(items)
        shapes = len(SHAPES) + len(HARD_SHAPES)
        print(
            f"  {shapes} named shapes x {len(items)} items: {right}/{total} papers exactly right,"
        )
        print(f"  {made_up} made up; most missed: {misses[:3]}")


if __name__ == "__main__":
    main([arg for arg in sys.argv[1:] if not arg.startswith("--")])
