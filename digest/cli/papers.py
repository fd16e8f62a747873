"""``digest parse``, ``fetch`` and ``rank``: look at the papers an edition would have, and at one
reader's ranking of them, without writing anything."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, date, datetime

import click

from digest import parse
from digest.cli.context import AppContext, echo_json, edition_options, print_sources
from digest.cli.report import make_console, papers_table, ranked_json, ranked_table, reader_line
from digest.errors import ParseError
from digest.fetch import make_client, read_local
from digest.models import Paper
from digest.pipeline.collect import collect_edition
from digest.pipeline.compose import rank_for, rank_settings
from digest.pipeline.readers import already_shown, subscriber_named
from digest.rank import Reader
from digest.store import Store, make_store
from digest.subscribers import split_list


@click.command("parse")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--kind",
    type=click.Choice(("auto", *parse.KINDS)),
    default="auto",
    show_default=True,
    help="Source kind of the files.",
)
@click.option("--json", "as_json", is_flag=True, help="Print papers as a JSON array.")
def parse_cmd(files: tuple[str, ...], kind: str, as_json: bool) -> None:
    """Parse FILES (saved pages or feeds) offline and print their papers (no merging across
    files)."""
    today = datetime.now(UTC).date()
    papers: list[Paper] = []
    empty: list[ParseError] = []
    for file in files:
        source = "" if kind == "auto" else kind
        result = parse.parse_bytes(
            read_local(file), kind=kind, source=source, origin=file, today=today
        )
        papers.extend(result.papers)
        for problem in result.problems:
            click.echo(f"warning: {file}: {problem}", err=True)
        if not result.papers:
            empty.append(_no_papers(file, result.problems))
    if as_json:
        echo_json([p.to_json() for p in papers])
    else:
        make_console().print(papers_table(papers))
    if empty:  # a file that holds no paper is not a success, even beside one that does
        raise empty[0]


def _no_papers(file: str, problems: tuple[str, ...]) -> ParseError:
    if not problems:
        return ParseError("no papers in it (an empty list?)", source=file)
    if len(problems) == 1:
        return ParseError(f"no papers in it: {problems[0]}", source=file)
    return ParseError(
        f"no papers in it: {len(problems)} problems, the first: {problems[0]}", source=file
    )


@click.command("fetch")
@edition_options
@click.option("--json", "as_json", is_flag=True, help="Print merged papers as a JSON array.")
@click.pass_obj
def fetch_cmd(
    app: AppContext,
    digest_name: str | None,
    edition_date: date | None,
    sources: tuple[str, ...],
    as_json: bool,
) -> None:
    """Fetch, parse and merge a digest's sources; writes nothing. Exits 1 if a source failed."""
    config, target = app.target(digest_name, edition_date, sources)
    cache = make_store(config).http_cache(read_only=True)  # reads what sends saved
    with make_client() as client:
        collected = collect_edition(target, client, cache)
    if as_json:
        echo_json([p.to_json() for p in collected.papers])
    else:
        make_console().print(papers_table(collected.papers))
    print_sources(collected.sources)
    if not all(s.ok for s in collected.sources):
        sys.exit(1)


@click.command("rank")
@edition_options
@click.option("--subscriber", help="Rank for this subscriber: their topics, authors and settings.")
@click.option("--topics", help='Rank for these topics instead, e.g. "diffusion, robot learning".')
@click.option("--explain", is_flag=True, help="Show each paper's score, its parts and reason.")
@click.option("--json", "as_json", is_flag=True, help="Print the ranking as JSON.")
@click.pass_obj
def rank_cmd(
    app: AppContext,
    digest_name: str | None,
    edition_date: date | None,
    sources: tuple[str, ...],
    subscriber: str | None,
    topics: str | None,
    explain: bool,
    as_json: bool,
) -> None:
    """Rank a digest's papers as one reader's email would show them (no writes)."""
    config, target = app.target(digest_name, edition_date, sources)
    store = make_store(config)
    with make_client() as client:
        collected = collect_edition(target, client, store.http_cache(read_only=True))
    ids = [p.id for p in collected.papers]
    reader = _reader(store, subscriber, topics, ids, target.edition.key)
    ranking = rank_for(target, collected.papers, reader)
    if as_json:
        echo_json([ranked_json(r) for r in ranking.papers])
    elif explain:
        click.echo(reader_line(reader, rank_settings(target.digest)))
        make_console().print(ranked_table(ranking.papers))
    else:
        for n, r in enumerate(ranking.papers, 1):
            click.echo(f"{n:2}. {r.paper.title}")
    if not ranking.papers:
        click.echo(f"Nothing to send: {ranking.why_empty}", err=True)


def _reader(
    store: Store, email: str | None, topics: str | None, ids: list[str], edition: str
) -> Reader:
    """Who ``digest rank`` ranks for: a subscriber (what earlier editions showed them left
    out, as in their email of ``edition``), the ``--topics`` given, or nobody in particular
    (trending only)."""
    reader = Reader()
    if email:
        sub = subscriber_named(store, email)
        reader = Reader.of(sub, already_shown(store, sub.email, ids, edition))
    if topics is not None:
        reader = replace(reader, topics=split_list(topics))
    return reader
