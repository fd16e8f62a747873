"""Collect: an edition's papers from its sources (fetch each, parse it, merge what came back).
One failing source is reported and the others go on."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock

import httpx

from digest import parse
from digest.config import DigestConfig
from digest.config.sources import SourceSpec
from digest.errors import FetchError, ParseError
from digest.fetch import fetch_source
from digest.fetch.http import PageCache
from digest.models import Paper, SourceReport
from digest.parse.merge import merge_papers
from digest.pipeline.compose import EditionRequest
from digest.windows import latest_run


@dataclass(frozen=True, slots=True)
class Collected:
    papers: tuple[Paper, ...]
    sources: tuple[SourceReport, ...]


def edition_moment(digest: DigestConfig, edition_date: date, now: datetime) -> datetime:
    """The instant an edition is made at: now for today's edition, else the end of its day."""
    if now.astimezone(digest.zone).date() == edition_date:
        return now
    return datetime.combine(edition_date, clock(23, 59, 59), digest.zone).astimezone(UTC)


def collect_papers(
    sources: Sequence[SourceSpec],
    *,
    period: str,
    now: datetime,
    today: date,
    client: httpx.Client,
    cache: PageCache | None = None,
    since: datetime | None = None,
) -> Collected:
    """Fetch and parse every source; one failing source is reported, the others go on.
    ``cache`` (None: none) lets fetching ask servers whether a page changed (conditional GET);
    ``since`` is the previous scheduled run (a daily edition takes the days completed since)."""
    papers: list[Paper] = []
    reports: list[SourceReport] = []
    for spec in sources:
        started = time.monotonic()
        try:
            fetched = fetch_source(
                spec, client=client, period=period, now=now, cache=cache, since=since
            )
            results = [
                parse.parse_bytes(
                    page,
                    kind=spec.kind,
                    source=_paper_source(spec),
                    origin=fetched.origin,
                    today=today,
                    options=spec.options,
                )
                for page in fetched.pages
            ]
        except (FetchError, ParseError) as exc:
            reports.append(
                SourceReport(spec.label, spec.kind, False, 0, time.monotonic() - started, str(exc))
            )
            continue
        found = [p for r in results for p in r.papers]
        problems = tuple(msg for r in results for msg in r.problems)
        papers.extend(found)
        seconds = time.monotonic() - started
        note = None if found or problems else fetched.empty_note  # e.g. a weekend's []
        reports.append(
            SourceReport(spec.label, spec.kind, True, len(found), seconds, None, problems, note)
        )
    return Collected(merge_papers(papers), tuple(reports))


def collect_edition(
    target: EditionRequest, client: httpx.Client, cache: PageCache | None = None
) -> Collected:
    """The papers of one edition, from its sources as of the edition's moment: for a daily
    digest, the HF days completed since its previous scheduled run."""
    digest = target.digest
    moment = edition_moment(digest, target.edition_date, target.now)
    return collect_papers(
        target.sources,
        period=digest.period,
        now=moment,
        today=target.edition_date,
        client=client,
        cache=cache,
        since=previous_run(digest, target.edition_date, moment),
    )


def previous_run(digest: DigestConfig, edition_date: date, moment: datetime) -> datetime | None:
    """The scheduled run before the one that makes this edition (None: none in 32 days)."""
    run = latest_run(digest, moment)
    if run is not None and run.edition_date == edition_date:  # this edition's own run
        run = latest_run(digest, run.at - timedelta(seconds=1))
    return run.at if run is not None else None


def _paper_source(spec: SourceSpec) -> str:
    """The name papers carry in ``sources``: empty for a sniffed file (the kind found)."""
    return "" if spec.kind == "auto" and spec.name == "auto" else spec.name
