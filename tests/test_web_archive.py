"""The archive through Starlette's test client, over a real TinyDB store holding editions
published from a real Daily Papers slice: the index, the edition pages, the Atom feeds, and
every address that must be a 404."""

from __future__ import annotations

import asyncio
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import FIXTURES
from starlette.testclient import TestClient

from digest.config import Config, load_config
from digest.links import DEV_SECRET, WEB_VERSION, make_token
from digest.models import Delivery, DeliveryStatus, Edition, Paper, RunReport, Subscriber
from digest.parse import parse_bytes
from digest.store import Store, TinyStore
from digest.web import create_app
from digest.web.archive import FEED_EDITIONS, PAGE_EDITIONS

BASE = "https://papers.example.org"
ATOM = "{http://www.w3.org/2005/Atom}"
XHTML = "{http://www.w3.org/1999/xhtml}"
HOSTILE = '<script>alert("x")</script> & "friends"'
WEEKLY = f"""\
  weekly:
    title: '{HOSTILE}'
    sources: [hf-daily]
    schedule: "0 8 * * mon"
    timezone: America/New_York
    period: week
"""
THURSDAY = date(2025, 11, 27)
# The slice ranked on THURSDAY: recent papers beat the 22-day-old one with 107 upvotes, so
# neither the stored order nor raw upvotes would give this.
TRENDING = ["2511.16166", "2511.21208", "2510.25616", "2511.10258", "2511.11721", "2511.01450"]


@dataclass
class Archive:
    config: Config
    store: Store
    client: TestClient
    papers: tuple[Paper, ...]

    def publish(
        self,
        day: date,
        papers: tuple[Paper, ...] | None = None,
        digest: str = "daily",
        *,
        sent: bool = True,
    ) -> None:
        """An edition as a send leaves it: saved, and a run that reached one reader (or,
        ``sent=False``, a run that reached no one)."""
        title = self.config.digest(digest).title
        edition = Edition(digest, day, title)
        self.store.save_edition(edition, papers or self.papers)
        status = DeliveryStatus.SENT if sent else DeliveryStatus.FAILED
        at = datetime.combine(day, datetime.min.time(), UTC)
        delivery = Delivery(edition.key, "someone@example.org", status)
        report = RunReport(digest, day, at, at, False, deliveries=(delivery,))
        self.store.finish_run(report, bounced=(), delivered=(), limit=3)


@pytest.fixture
def archive(config_file: Callable[..., Path]) -> Archive:
    """An app over an empty store, with the daily (size 5) and a hostile-titled weekly digest."""
    config = load_config(config_file(extra=WEEKLY), {})
    store = TinyStore(config.store_path)
    client = TestClient(create_app(config, store=store, allow_dev_secret=True), base_url=BASE)
    data = (FIXTURES / "hf-daily-2025-11-slice.json").read_bytes()
    papers = parse_bytes(data, kind="hf-daily", source="hf-daily", today=THURSDAY).papers
    return Archive(config, store, client, papers)


def paper_ids(html: str) -> list[str]:
    """The papers of an edition page, in the order shown (by their arXiv link)."""
    return re.findall(r'<a href="https://arxiv.org/abs/([^"]+)">arXiv</a>', html)


def local_links(html: str, prefix: str) -> list[str]:
    return re.findall(rf'href="({re.escape(prefix)}[^"]*)"', html)


# edition pages -------------------------------------------------------------------------------


def test_edition_page_shows_the_edition_as_it_was_sent(archive: Archive) -> None:
    """Issue 15: the page showed the edition's whole pool (412 papers, 100,000 px tall);
    it shows the trending top ``size`` the email led with."""
    archive.publish(THURSDAY)
    page = archive.client.get("/archive/daily/2025-11-27")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<h1><time datetime="2025-11-27">Thursday 27 November 2025</time></h1>' in html
    assert "Daily Papers" in html and "The top 5 of 6 papers, in trending order." in html
    assert paper_ids(html) == TRENDING[:5]  # the daily digest's size: what the email led with
    assert "More from this day" not in html


def test_edition_page_shows_each_papers_details(archive: Archive) -> None:
    archive.publish(THURSDAY)
    html = archive.client.get("/archive/daily/2025-11-27").text
    evo = html[html.index('id="paper-1"') : html.index('id="paper-2"')]
    assert (
        '<a href="https://huggingface.co/papers/2511.16166">'
        "EvoVLA: Self-Evolving Vision-Language-Action Model</a>"
    ) in evo
    assert "Zeting Liu, Zida Yang, Hao Tang" in evo
    assert "6 upvotes · 2 comments · 132 GitHub stars" in evo
    assert '<a href="https://arxiv.org/pdf/2511.16166">PDF</a>' in evo
    assert '<a href="https://github.com/' in evo
    blurbs = re.findall(r'<p class="blurb">([^<]*)</p>', html)
    assert len(blurbs) == 5 and all(0 < len(b) <= 600 for b in blurbs)


def test_edition_page_of_a_paper_with_nothing_but_a_title(archive: Archive) -> None:
    bare = Paper(id="title-0123456789abcdef", title="A paper known only by its title")
    archive.publish(THURSDAY, (bare,))
    page = archive.client.get("/archive/daily/2025-11-27")
    assert page.status_code == 200
    assert '<h3 class="paper-title">A paper known only by its title</h3>' in page.text
    assert "1 paper in trending order." in page.text
    assert 'class="meta"' not in page.text and 'class="links"' not in page.text
    assert "More from this day" not in page.text


def test_edition_page_escapes_what_it_scraped(archive: Archive) -> None:
    hostile = replace(archive.papers[0], title=HOSTILE, authors=("<b>Eve</b>",))
    archive.publish(THURSDAY, (hostile,))
    html = archive.client.get("/archive/daily/2025-11-27").text
    assert "<script>" not in html and "<b>Eve" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;friends&#34;" in html


@pytest.mark.parametrize(
    "path",
    [
        "/archive/monthly",  # no such digest
        "/archive/monthly/2025-11-27",
        "/archive/monthly/feed.xml",
        "/archive/daily/2025-13-45",  # not a date
        "/archive/daily/yesterday",
        "/archive/daily/20251127",  # date.fromisoformat would take it
        "/archive/daily/2025-11-27x",
        "/archive/daily/2025-11-26",  # never published
        "/archive/weekly/2025-11-27",  # published, but by another digest
        "/archive/daily?before=last-week",
    ],
)
def test_unknown_addresses_are_404_pages(archive: Archive, path: str) -> None:
    archive.publish(THURSDAY)
    page = archive.client.get(path)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Page not found</h1>" in page.text or "<h1>No edition on this day</h1>" in page.text


def test_an_edition_no_one_was_sent_is_not_listed(archive: Archive) -> None:
    """Issue 15: the archive listed editions a run saved and then sent to no one."""
    archive.publish(date(2025, 11, 26))
    archive.publish(THURSDAY, sent=False)
    html = archive.client.get("/archive/daily").text
    assert re.findall(r'datetime="([\d-]+)"', html) == ["2025-11-26"]
    assert len(feed_of(archive).findall(f"{ATOM}entry")) == 1  # the 26th
    assert "2025-11-27" not in ET.tostring(feed_of(archive), encoding="unicode")


def test_every_page_has_a_subscribe_button_and_a_favicon(archive: Archive) -> None:
    archive.publish(THURSDAY)
    for path in ("/archive", "/archive/daily", "/archive/daily/2025-11-27", "/archive/x", "/"):
        page = archive.client.get(path, follow_redirects=True)
        html = page.text
        if path != "/":  # the subscribe page itself has the form instead
            assert re.search(r'<a class="[^"]*button[^"]*" href="/subscribe">Subscribe</a>', html)
        assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html, path
    icon = archive.client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.text.startswith("<svg") and "<script" not in icon.text


# a reader's own email on the web -------------------------------------------------------------


def web_version(archive: Archive, sub: Subscriber, day: str = "2025-11-27") -> str:
    token = make_token(DEV_SECRET, WEB_VERSION, sub.id, "daily")
    return f"/archive/daily/{day}/for/{token}"


def reader(archive: Archive, **changes: object) -> Subscriber:
    sub = Subscriber("ada@example.org", "", digests=("daily",), **changes)  # type: ignore[arg-type]
    return archive.store.save_subscriber(sub)[0]


def test_the_web_version_is_the_readers_own_email(archive: Archive) -> None:
    """Issue 15: "Web version" opened the edition's whole pool; it opens this reader's email."""
    archive.publish(THURSDAY)
    ada = reader(archive, topics=("vision language action",))
    page = archive.client.get(web_version(archive, ada))
    assert page.status_code == 200
    html = page.text
    assert "ada@example.org subscribed to Daily Papers" in html
    assert ">For you<" in html and "2 on vision language action and today's top 3." in html
    assert len(re.findall(r'class="title"', html)) == 5  # the email's size, not the pool
    assert "private" in page.headers["cache-control"]
    policy = page.headers["content-security-policy"]
    assert "style-src 'unsafe-inline'" in policy and "script-src" not in policy
    assert "/unsubscribe/" in html  # the reader's own links, as in the email


def test_the_web_version_shows_the_papers_the_delivery_carried(archive: Archive) -> None:
    archive.publish(THURSDAY)
    ada = reader(archive)
    edition = Edition("daily", THURSDAY, "Daily Papers")
    carried = (TRENDING[4], TRENDING[1])

    async def deliver(ledger: object) -> None:
        await ledger.claim("ada@example.org", "<m@example.org>", carried)  # type: ignore[attr-defined]
        await ledger.finish("ada@example.org", DeliveryStatus.SENT)  # type: ignore[attr-defined]

    with archive.store.sending(edition, archive.papers, sender="test") as send:
        asyncio.run(deliver(send.ledger))
    html = archive.client.get(web_version(archive, ada)).text
    shown = re.findall(r'href="https://huggingface.co/papers/([^"]+)"', html)
    assert list(dict.fromkeys(shown)) == [TRENDING[1], TRENDING[4]]  # in the email's order


@pytest.mark.parametrize("kind", ["forged", "other digest", "no such reader"])
def test_a_bad_web_version_link_changes_nothing_and_says_so(archive: Archive, kind: str) -> None:
    archive.publish(THURSDAY)
    ada = reader(archive)
    if kind == "forged":
        path = web_version(archive, ada)[:-3] + "xyz"
    elif kind == "other digest":
        token = make_token(DEV_SECRET, WEB_VERSION, ada.id, "weekly")
        path = f"/archive/daily/2025-11-27/for/{token}"
    else:
        path = web_version(archive, replace(ada, id="0123456789abcdef"))
    page = archive.client.get(path)
    assert page.status_code in (400, 404)
    assert "This link is not valid" in page.text and "ada@example.org" not in page.text


def test_a_day_without_an_edition_links_to_the_digests_editions(archive: Archive) -> None:
    archive.publish(THURSDAY)
    page = archive.client.get("/archive/daily/2025-11-26")
    assert "Daily Papers was not sent on this day." in page.text
    assert '<a class="button" href="/archive/daily">' in page.text


# the index -----------------------------------------------------------------------------------


def test_index_lists_each_digests_editions_newest_first(archive: Archive) -> None:
    for day in (date(2025, 11, 25), THURSDAY, date(2025, 11, 26)):
        archive.publish(day)
    archive.publish(date(2025, 11, 24), archive.papers[:1], digest="weekly")
    html = archive.client.get("/archive").text
    daily, weekly = html.split('<section class="shelf"')[1:]
    assert re.findall(r'datetime="([\d-]+)"', daily) == ["2025-11-27", "2025-11-26", "2025-11-25"]
    # the papers the email carried (the daily's size), not the edition's pool of 6
    assert 'Thursday 27 November 2025</time></a> <span class="muted">— 5 papers' in daily
    assert re.findall(r'datetime="([\d-]+)"', weekly) == ["2025-11-24"]
    assert "— 1 paper</span>" in weekly
    assert "&lt;script&gt;" in weekly and "<script>" not in html
    feeds = re.findall(r'<link rel="alternate" type="application/atom\+xml" [^>]*>', html)
    assert [re.search(r'href="([^"]+)"', f).group(1) for f in feeds] == [  # type: ignore[union-attr]
        f"{BASE}/archive/daily/feed.xml",
        f"{BASE}/archive/weekly/feed.xml",
    ]


def test_every_link_of_the_index_opens(archive: Archive) -> None:
    for day in (date(2025, 11, 25), THURSDAY):
        archive.publish(day)
    html = archive.client.get("/archive").text
    links = local_links(html, "/archive/") + local_links(html, f"{BASE}/archive/")
    assert len(links) == 8  # per digest: its page, its feed twice, and daily's two editions
    for link in links:
        assert archive.client.get(link).status_code == 200, link


def test_a_digests_page_lists_only_its_editions(archive: Archive) -> None:
    archive.publish(THURSDAY)
    archive.publish(date(2025, 11, 24), digest="weekly")
    html = archive.client.get("/archive/daily").text
    assert "<h1>Daily Papers archive</h1>" in html
    assert local_links(html, "/archive/daily/2") == ["/archive/daily/2025-11-27"]
    assert "/archive/weekly" not in html


def test_an_empty_digest_says_so(archive: Archive) -> None:
    html = archive.client.get("/archive/weekly").text
    assert "No editions yet." in html


def test_a_digest_s_archive_page_names_that_digest(archive: Archive) -> None:
    """Issue 15, bug 7: the weekly page said "Every edition of Daily Papers"."""
    weekly = archive.client.get("/archive/weekly").text
    assert "Every edition of &lt;script&gt;alert(" in weekly
    assert "Every edition of Daily Papers" not in weekly
    assert (
        "Every edition of Daily Papers as it was sent" in archive.client.get("/archive/daily").text
    )


def test_a_long_archive_is_paged(archive: Archive) -> None:
    first = date(2024, 1, 1)
    days = [first + timedelta(days=n) for n in range(PAGE_EDITIONS + 5)]
    for day in days:
        archive.publish(day, archive.papers[:1])
    html = archive.client.get("/archive/daily").text
    shown = re.findall(r'datetime="([\d-]+)"', html)
    assert shown == [d.isoformat() for d in reversed(days)][:PAGE_EDITIONS]
    older = re.search(r'<a href="(/archive/daily\?before=[\d-]+)">Older editions</a>', html)
    assert older is not None
    rest = archive.client.get(older.group(1)).text
    assert re.findall(r'datetime="([\d-]+)"', rest) == [d.isoformat() for d in days[4::-1]]
    assert "Older editions" not in rest and "Editions sent before" in rest


# feeds ---------------------------------------------------------------------------------------


def feed_of(archive: Archive, digest: str = "daily") -> ET.Element:
    response = archive.client.get(f"/archive/{digest}/feed.xml")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    return ET.fromstring(response.content)


def test_feed_is_atom_with_one_entry_per_edition(archive: Archive) -> None:
    archive.publish(THURSDAY)
    archive.publish(date(2025, 11, 29))  # a Saturday: the schedule does not run that day
    feed = feed_of(archive)
    assert feed.tag == f"{ATOM}feed"
    assert feed.findtext(f"{ATOM}id") == f"{BASE}/archive/daily/feed.xml"
    assert feed.findtext(f"{ATOM}title") == "Daily Papers"
    assert feed.findtext(f"{ATOM}author/{ATOM}name")
    links = {link.get("rel"): link.get("href") for link in feed.findall(f"{ATOM}link")}
    assert links == {"self": f"{BASE}/archive/daily/feed.xml", "alternate": f"{BASE}/archive/daily"}
    entries = feed.findall(f"{ATOM}entry")
    ids = [e.findtext(f"{ATOM}id") for e in entries]
    assert ids == [f"{BASE}/archive/daily/2025-11-29", f"{BASE}/archive/daily/2025-11-27"]
    # 07:00 in London (UTC in November) on a weekday; midnight on a day without a run
    updated = [e.findtext(f"{ATOM}updated") for e in entries]
    assert updated == ["2025-11-29T00:00:00Z", "2025-11-27T07:00:00Z"]
    assert feed.findtext(f"{ATOM}updated") == "2025-11-29T00:00:00Z"


def test_feed_entries_list_the_top_papers_and_link_the_edition(archive: Archive) -> None:
    archive.publish(THURSDAY)
    entry = feed_of(archive).find(f"{ATOM}entry")
    assert entry is not None
    assert entry.findtext(f"{ATOM}title") == "Daily Papers — Thursday 27 November 2025"
    link = entry.find(f"{ATOM}link")
    assert link is not None and link.get("rel") == "alternate"
    href = link.get("href", "")
    assert href == f"{BASE}/archive/daily/2025-11-27"
    assert archive.client.get(urlsplit(href).path).status_code == 200
    summary = entry.findtext(f"{ATOM}summary", "")
    assert summary.startswith("6 papers, led by: EvoVLA: Self-Evolving")
    content = entry.find(f"{ATOM}content")
    assert content is not None and content.get("type") == "xhtml"
    items = content.findall(f"{XHTML}div/{XHTML}ol/{XHTML}li")
    hrefs = [li.find(f"{XHTML}a").get("href") for li in items]  # type: ignore[union-attr]
    assert hrefs == [f"https://huggingface.co/papers/{i}" for i in TRENDING[:5]]
    more = content.find(f"{XHTML}div/{XHTML}p/{XHTML}a")
    assert more is not None and more.text == "1 more paper from this day"


def test_feed_escapes_hostile_titles(archive: Archive) -> None:
    hostile = replace(archive.papers[0], title=HOSTILE + "\ufffe", url=None, pdf_url=None)
    archive.publish(date(2025, 11, 24), (hostile,), digest="weekly")
    feed = feed_of(archive, "weekly")
    assert feed.findtext(f"{ATOM}title") == HOSTILE  # the digest's title, from the config
    entry = feed.find(f"{ATOM}entry")
    assert entry is not None
    assert entry.findtext(f"{ATOM}title", "").startswith(HOSTILE + " — Monday 24 November")
    item = entry.find(f"{ATOM}content/{XHTML}div/{XHTML}ol/{XHTML}li")
    assert item is not None and item.find(f"{XHTML}script") is None
    link = item.find(f"{XHTML}a")  # no paper page: the title links to the arXiv abstract
    assert link is not None and link.text == HOSTILE
    assert link.get("href") == f"https://arxiv.org/abs/{hostile.id}"
    assert entry.findtext(f"{ATOM}updated") == "2025-11-24T13:00:00Z"  # 08:00 in New York


def test_feed_holds_the_latest_editions_only(archive: Archive) -> None:
    days = [date(2025, 1, 1) + timedelta(days=n) for n in range(FEED_EDITIONS + 5)]
    for day in days:
        archive.publish(day, archive.papers[:2])
    entries = feed_of(archive).findall(f"{ATOM}entry")
    assert len(entries) == FEED_EDITIONS
    assert entries[0].findtext(f"{ATOM}id", "").endswith(days[-1].isoformat())
    assert entries[-1].findtext(f"{ATOM}id", "").endswith(days[5].isoformat())


def test_feed_of_a_digest_without_editions_is_valid(archive: Archive) -> None:
    feed = feed_of(archive, "weekly")
    assert feed.findall(f"{ATOM}entry") == []
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", feed.findtext(f"{ATOM}updated", ""))


def test_feed_answers_a_conditional_get_until_the_store_changes(archive: Archive) -> None:
    archive.publish(THURSDAY)
    first = archive.client.get("/archive/daily/feed.xml")
    tag = first.headers["etag"]
    unchanged = archive.client.get("/archive/daily/feed.xml", headers={"if-none-match": tag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    archive.publish(date(2025, 11, 28))
    changed = archive.client.get("/archive/daily/feed.xml", headers={"if-none-match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag
    assert len(ET.fromstring(changed.content).findall(f"{ATOM}entry")) == 2
