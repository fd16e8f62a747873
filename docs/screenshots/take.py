"""Screenshots of the email and the pages around it, as a reader sees them (issue 15).

Serves the app on loopback over a throwaway store holding the shipped sample day
(digest/samples, 25 November 2025) as a sent edition, with a reader who has topics, and opens
each page in Debian's headless chromium (Playwright) at 800 and 400 px, light and dark; and
once with thumbnails on (a digest with ``thumbnails: true``; the pictures, which live on
Hugging Face's CDN, are stood in for by a drawing: the test machine has no internet).

Usage: .venv/bin/python docs/screenshots/take.py [OUT_DIR]   (default: docs/screenshots)
"""

from __future__ import annotations

import socket
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

import uvicorn
from playwright.sync_api import Route, sync_playwright

from digest.config import load_config
from digest.links import WEB_VERSION, make_token
from digest.models import Delivery, DeliveryStatus, Edition, RunReport, Subscriber
from digest.parse import parse_bytes
from digest.store import TinyStore
from digest.web.app import create_app

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "digest" / "samples" / "hf-daily-2025-11-25.json"
DAY = date(2025, 11, 25)
SECRET = "screenshot-secret"
CONFIG = """\
store: {folder}/store.json
outbox: {folder}/outbox
base_url: {url}
sender:
  from: "Daily Papers <papers@example.org>"
  postal_address: "1 Research Way, Cambridge"
smtp:
  host: "null"
digests:
  daily:
    title: Daily Papers
    sources: [hf-daily]
    schedule: "0 7 * * mon-fri"
    timezone: Europe/London
    size: 8
  pictures:
    title: Daily Papers
    sources: [hf-daily]
    schedule: "0 7 * * mon-fri"
    timezone: Europe/London
    size: 8
    thumbnails: true
  weekly:
    title: Weekly Papers
    sources: [hf-daily]
    schedule: "0 8 * * mon"
    timezone: Europe/London
    period: week
"""


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        path = Path(folder) / "schedules.yaml"
        path.write_text(CONFIG.format(folder=folder, url=url))
        config = load_config(path, {"DIGEST_SECRET": SECRET})
        store = TinyStore(config.store_path)
        reader = publish(store)
        server = uvicorn.Server(uvicorn.Config(create_app(config), log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        token = make_token(SECRET, WEB_VERSION, reader.id, "daily")
        pictures = make_token(SECRET, WEB_VERSION, reader.id, "pictures")
        pages = {
            "email": f"/archive/daily/{DAY.isoformat()}/for/{token}",
            "email-thumbnails": f"/archive/pictures/{DAY.isoformat()}/for/{pictures}",
            "edition": f"/archive/daily/{DAY.isoformat()}",
            "archive": "/archive",
            "subscribe": "/subscribe",
        }
        try:
            shoot(url, pages, out)
        finally:
            server.should_exit = True
            thread.join(10)


def publish(store: TinyStore) -> Subscriber:
    """The sample day as an edition a run sent, and a reader with two topics."""
    papers = parse_bytes(SAMPLE.read_bytes(), kind="hf-daily", source="hf-daily", today=DAY)
    at = datetime(2025, 11, 25, 7, tzinfo=UTC)
    for digest in ("daily", "pictures"):
        edition = Edition(digest, DAY, "Daily Papers")
        store.save_edition(edition, papers.papers)
        sent = Delivery(edition.key, "ada@example.org", DeliveryStatus.SENT)
        report = RunReport(digest, DAY, at, at, False, deliveries=(sent,))
        store.finish_run(report, bounced=(), delivered=(), limit=3)
    ada = Subscriber("ada@example.org", "", topics=("agents", "video generation"))
    return store.save_subscriber(ada)[0]


def shoot(url: str, pages: dict[str, str], out: Path) -> None:
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        for width, height in ((800, 1500), (400, 1400)):
            for scheme in ("light", "dark"):
                context = browser.new_context(
                    viewport={"width": width, "height": height},
                    color_scheme=scheme,  # type: ignore[arg-type]
                    timezone_id="Europe/Paris",
                )
                page = context.new_page()
                page.route("https://cdn-thumbnails.huggingface.co/**", _picture)
                for name, path in pages.items():
                    if scheme == "dark" and name in ("archive", "edition"):
                        continue  # a few PNGs: the email and the form in the dark are enough
                    if name == "email-thumbnails" and (scheme, width) != ("light", 800):
                        continue
                    page.goto(url + path)
                    page.wait_for_load_state("networkidle")
                    whole = name in ("archive", "subscribe")  # short pages: all of it
                    page.screenshot(path=str(out / f"{name}-{width}-{scheme}.png"), full_page=whole)
                context.close()
        browser.close()


def _picture(route: Route) -> None:
    """A stand-in for a paper's thumbnail: a drawing of its id, at the thumbnails' ratio."""
    paper = route.request.url.rsplit("/", 1)[-1].removesuffix(".png")
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="630">'
        '<defs><linearGradient id="g" x2="1" y2="1"><stop offset="0" stop-color="#dbe3f4"/>'
        '<stop offset="1" stop-color="#93b4ff"/></linearGradient></defs>'
        '<rect width="1200" height="630" fill="url(#g)"/>'
        '<text x="60" y="560" font-family="sans-serif" font-size="64" fill="#1d4ed8">'
        f"arXiv {paper}</text></svg>"
    )
    route.fulfill(body=svg, content_type="image/svg+xml")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "screenshots")
