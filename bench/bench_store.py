"""The store under a big list (issue 16; rerun: make bench-pg): a CSV import, then the
reader-facing writes through the real web app, PostgreSQL at 1,000,000 subscribers beside
TinyDB at 100,000, in the same run on the same machine.

What runs, for each store:

    1. ``digest store migrate`` (PostgreSQL), then ``digest subscribers import`` of a CSV of
       N confirmed subscribers (3-5 topics each, 24 timezones), timed as a subprocess;
    2. ``digest serve --no-scheduler`` as a subprocess on a loopback port (uvicorn, one
       process, the real routes; confirmation emails go to the outbox);
    3. 16 concurrent clients (each an ``httpx.AsyncClient`` with its own cookies; the CSRF
       token from one GET /subscribe per client) POST, phase by phase:
       subscribe (a new address), confirm (the link for one of those addresses, built with
       digest.links from the same DIGEST_SECRET), preferences save (an imported reader) and
       the RFC 8058 one-click unsubscribe (another imported reader). Each POST is timed from
       send to answer; writes/s is the POSTs over the phases' wall time.

Subscribe answers before its write (the record and the email are done after the page, so the
answer takes the same time for any address); its phase ends when every write is in the store.

Each load also reports the server's CPU per POST (user + system time of ``digest serve``
and its workers, from /proc, over the phase) and the load average.

``--keep DIR`` keeps the PostgreSQL cluster in DIR: a later run with the same DIR and size
reuses its million readers instead of building them again (each run writes new addresses
and picks other readers, so every POST is still a real write).

Usage: python bench/bench_store.py [--subscribers 1000000] [--requests 4000]
       [--tiny-subscribers 100000] [--tiny-requests 80] [--clients 16] [--no-tiny]
       [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import own_peak
import psycopg
from lean_http import LeanClient
from pg import Cluster, load_subscribers, machine, throwaway_cluster

from digest.links import PREFERENCES, UNSUBSCRIBE, make_confirm_token, make_token
from digest.models import Choices, Status, Subscriber
from digest.store import Store, open_store
from digest.subscribers import address_key
from digest.subscribers.csvfile import decode_csv, read_csv

SECRET = "bench-store-secret-0123456789abcdef"
ZONES = ["UTC", "Europe/London", "Europe/Paris", "America/New_York", "Asia/Tokyo"] + [
    f"Etc/GMT{sign}{h}" for sign in "+-" for h in range(1, 10)
]
TOPICS = [
    "diffusion",
    "reinforcement learning",
    "large language models",
    "retrieval augmented generation",
    "vision transformers",
    "speech recognition",
    "graph neural networks",
    "robotics",
    "reasoning",
    "mixture of experts",
    "quantization",
    "video generation",
]
CONFIG = """\
store: {store}
outbox: {outbox}
base_url: http://127.0.0.1:{port}
sender:
  from: "Daily Papers <papers@example.org>"
  postal_address: "1 Research Way, Cambridge"
web:
  per_client_per_hour: 100000000
digests:
  daily:
    title: Daily Papers
    sources: [hf-daily]
    schedule: "0 7 * * mon-fri"
    timezone: UTC
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def email_of(i: int) -> str:
    return f"reader{i:07}@example.org"


def rows_of(n: int) -> Iterator[tuple[str, list[str], str]]:
    """The readers of the CSV: address, topics, timezone."""
    rng = random.Random(16)
    for i in range(n):
        yield email_of(i), rng.sample(TOPICS, rng.randint(3, 5)), ZONES[i % len(ZONES)]


def write_csv(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("email,topics,digests,cadence,timezone\n")
        for email, topics, zone in rows_of(n):
            out.write(f'{email},"{", ".join(topics)}",daily,daily,{zone}\n')


def subscribers_of(n: int) -> Iterator[Subscriber]:
    """What ``read_csv`` makes of the CSV's rows, built directly (``read_csv`` validates each
    address and zone: 0.4 ms a row, minutes at a million); checked against it on a sample."""
    for email, topics, zone in rows_of(n):
        yield Subscriber(email, "", digests=("daily",), topics=tuple(topics), timezone=zone)


def check_subscribers_of(folder: Path) -> None:
    """``subscribers_of`` builds what the import would (so the store is the same)."""
    csv = folder / "sample.csv"
    write_csv(csv, 500)
    rows, errors = read_csv(decode_csv(csv.read_bytes(), str(csv)), known_digests=["daily"])
    assert not errors and [r.subscriber for r in rows] == list(subscribers_of(500))


def stored_count(url: str) -> int | None:
    """How many subscribers the PostgreSQL store at ``url`` holds; None: no such store."""
    try:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*) FROM subscribers").fetchone()
    except psycopg.Error:
        return None
    return int(row[0]) if row else 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process ``pid`` and its children still running (from /proc)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += cpu_seconds(int(child))
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


def cpu_times() -> list[int]:
    """The machine's CPU time so far by kind (user, nice, system, idle, iowait, irq, softirq,
    steal, ...), from /proc/stat."""
    return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]


def digest(config: Path, *args: str, usage: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``digest ARGS`` on ``config``; with ``usage``, its own peak RSS and CPU written there
    (:mod:`own_peak`)."""
    env = {**os.environ, "DIGEST_CONFIG": str(config), "DIGEST_SECRET": SECRET}
    env.pop("DIGEST_STORE", None)
    command = [sys.executable, "-m", "digest", *args]
    command = own_peak.wrapped(command, usage) if usage is not None else command
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode:
        sys.exit(f"digest {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0
    failures: int = 0
    started: float = 0.0
    cpu: float = 0.0  # the server's CPU seconds over the phase
    load: float = 0.0  # the 1-minute load average at its end
    pid: int = 0  # the server's
    cpu_started: float = 0.0
    client_cpu: float = 0.0  # this process's CPU seconds over the phase (the 16 clients)
    client_started: float = field(default_factory=time.process_time)
    db_pid: int = 0  # the PostgreSQL server's (its postmaster), 0 for TinyDB
    db_cpu: float = 0.0  # the database server's CPU seconds over the phase
    db_started: float = 0.0
    steal: float = 0.0  # the share of the machine's CPU time the hypervisor took over the phase
    stat_started: list[int] = field(default_factory=lambda: cpu_times())

    def finish(self) -> None:
        """The phase ends now: its wall time, the server's CPU over it, the load."""
        self.wall = time.perf_counter() - self.started
        self.cpu = cpu_seconds(self.pid) - self.cpu_started
        self.db_cpu = cpu_seconds(self.db_pid) - self.db_started if self.db_pid else 0.0
        self.client_cpu = time.process_time() - self.client_started
        spent = [b - a for a, b in zip(self.stat_started, cpu_times(), strict=True)]
        self.steal = spent[7] / max(1, sum(spent))
        self.load = os.getloadavg()[0]


@dataclass
class Result:
    label: str
    subscribers: int
    import_seconds: float
    import_rss_mb: float
    size_mb: float
    phases: list[Phase]

    @property
    def latencies(self) -> list[float]:
        return [x for p in self.phases for x in p.latencies]

    @property
    def writes_per_s(self) -> float:
        return len(self.latencies) / sum(p.wall for p in self.phases)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] * 1000


class Load:
    """``clients`` concurrent clients against one ``digest serve``, each with its own
    connection and cookies: lean ones (bench/lean_http.py) unless ``lean`` is False, then
    httpx's."""

    def __init__(
        self,
        base: str,
        clients: int,
        rate: float | None,
        pid: int,
        *,
        lean: bool = True,
        db_pid: int = 0,
    ) -> None:
        self.base, self.clients, self.rate, self.pid, self.lean = base, clients, rate, pid, lean
        self.db_pid = db_pid
        self.sessions: list[tuple[httpx.AsyncClient | LeanClient, str]] = []

    async def open(self) -> None:
        for _ in range(self.clients):
            client = httpx.AsyncClient(base_url=self.base, timeout=120)
            page = await client.get("/subscribe")
            page.raise_for_status()
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token, "no CSRF field on /subscribe"
            if self.lean:
                cookies = {c.name: c.value or "" for c in client.cookies.jar}
                await client.aclose()
                self.sessions.append((LeanClient(self.base, cookies), token.group(1)))
            else:
                self.sessions.append((client, token.group(1)))

    async def close(self) -> None:
        for client, _ in self.sessions:
            await client.aclose()

    async def run(
        self,
        name: str,
        items: list[str],
        request: Callable[[str, str], tuple[str, dict[str, str]]],
        expect: str,
    ) -> Phase:
        phase = Phase(name, started=time.perf_counter(), pid=self.pid, db_pid=self.db_pid)
        phase.cpu_started = cpu_seconds(self.pid)
        phase.db_started = cpu_seconds(self.db_pid) if self.db_pid else 0.0
        queue = list(reversed(items))

        async def worker(number: int, client: httpx.AsyncClient | LeanClient, csrf: str) -> None:
            sent = 0
            while queue:
                item = queue.pop()
                if self.rate:  # open loop: this client's next slot of the offered rate
                    slot = phase.started + (sent * self.clients + number) / self.rate
                    await asyncio.sleep(max(0.0, slot - time.perf_counter()))
                    sent += 1
                path, form = request(csrf, item)
                started = time.perf_counter()
                answer = await client.post(path, data=form)
                phase.latencies.append(time.perf_counter() - started)
                if answer.status_code != 200 or expect not in answer.text:
                    phase.failures += 1
                    if phase.failures <= 3:
                        print(f"  {name}: {answer.status_code} {answer.text[:300]!r}")

        await asyncio.gather(*(worker(i, c, t) for i, (c, t) in enumerate(self.sessions)))
        phase.finish()
        return phase


def subscribe(csrf: str, email: str) -> tuple[str, dict[str, str]]:
    form = {
        "csrf_token": csrf,
        "email": email,
        "digests": "daily",
        "topics": "diffusion, robotics",
        "authors": "",
        "topic_mode": "boost",
        "cadence": "daily",
        "timezone": "Europe/Paris",
        "website": "",
    }
    return "/subscribe", form


def confirm(csrf: str, sub_id: str) -> tuple[str, dict[str, str]]:
    return f"/confirm/{make_confirm_token(SECRET, sub_id)}", {"csrf_token": csrf}


def save_preferences(csrf: str, sub_id: str) -> tuple[str, dict[str, str]]:
    token = make_token(SECRET, PREFERENCES, sub_id, "")
    form = {
        "csrf_token": csrf,
        "digests": "daily",
        "topics": "quantization, reasoning, world models",
        "authors": "Ada Lovelace",
        "topic_mode": "filter",
        "cadence": "daily",
        "timezone": "Asia/Tokyo",
        "action": "save",
    }
    return f"/preferences/{token}", form


def unsubscribe(csrf: str, sub_id: str) -> tuple[str, dict[str, str]]:
    token = make_token(SECRET, UNSUBSCRIBE, sub_id, "daily")
    return f"/unsubscribe/{token}", {"List-Unsubscribe": "One-Click"}


def ids_of(store: Store, emails: list[str], pg: bool) -> dict[str, str]:
    """The subscriber ids of ``emails`` (those in the store), read in this process."""
    if pg or len(emails) == 1:
        found = (store.get_subscriber(e) for e in emails)
        return {s.email: s.id for s in found if s is not None}
    wanted = set(emails)
    return {s.email: s.id for s in store.list_subscribers() if s.email in wanted}


def all_stored(store: Store, emails: list[str], pg: bool, location: str) -> bool:
    """Whether every one of ``emails`` is in the store (one query on PostgreSQL)."""
    if not pg:
        return bool(ids_of(store, emails[-1:], pg)) and len(ids_of(store, emails, pg)) == len(
            emails
        )
    keys = [address_key(e) for e in emails]  # the primary key (email has no index)
    with psycopg.connect(location) as conn:
        row = conn.execute(
            "SELECT count(*) FROM subscribers WHERE key = ANY(%s)", (keys,)
        ).fetchone()
    return bool(row) and int(row[0]) == len(emails)


def wait_http(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(600):
        if server.poll() is not None:
            sys.exit(f"digest serve exited:\n{log.read_text()}")
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    sys.exit(f"digest serve did not answer:\n{log.read_text()}")


#: Runs ``digest serve`` with the web app's store lock (Site._locked: one store operation at
#: a time in the process) taken away, to measure what it costs. A what-if, not shipped.
UNLOCKED = (
    "import sys; import digest.web.site as s; s.Site._locked = lambda self, call: call(); "
    "from digest.cli import main; sys.argv[0] = 'digest'; main()"
)


def time_pg_import(cluster: Cluster, folder: Path, sizes: list[int]) -> list[tuple[int, float]]:
    """``digest subscribers import`` into an empty PostgreSQL store, timed, per size."""
    folder.mkdir()
    timings = []
    for n in sizes:
        url = cluster.create_db(f"import{n}")
        config = folder / f"schedules-{n}.yaml"
        config.write_text(CONFIG.format(store=url, outbox=folder / "outbox", port=8000))
        digest(config, "store", "migrate")
        csv = folder / f"subscribers-{n}.csv"
        write_csv(csv, n)
        started = time.perf_counter()
        digest(config, "subscribers", "import", str(csv))
        seconds = time.perf_counter() - started
        print(
            f"digest subscribers import, PostgreSQL, {n:,} rows: {seconds:.1f} s "
            f"({n / seconds:,.0f} rows/s)"
        )
        timings.append((n, seconds))
    return timings


def bench_store(
    label: str,
    folder: Path,
    location: str,
    n: int,
    requests: int,
    clients: int,
    pg: bool,
    profile: Path | None = None,
    rates: tuple[float | None, ...] = (None,),
    unlocked: bool = False,
    ops: int = 0,
    httpx_too: bool = False,
    workers: tuple[int, ...] = (1,),
    db_pid: int = 0,
) -> list[Result]:
    """Import ``n`` subscribers, then one load of ``requests`` POSTs per offered rate (None:
    every client as fast as it can); with ``unlocked``, the same loads once more against a
    server without the web app's store lock; with ``httpx_too``, once more with httpx's
    clients instead of the lean ones; each of these once per number of ``workers`` of
    ``digest serve``."""
    folder.mkdir()
    port = free_port()
    config = folder / "schedules.yaml"
    config.write_text(CONFIG.format(store=location, outbox=folder / "outbox", port=port))
    print(f"{label}: {n:,} subscribers")
    import_seconds = rss = 0.0
    if pg and stored_count(location) is not None:
        print(f"  reused: the kept store holds {stored_count(location):,} subscribers")
    elif pg:
        digest(config, "store", "migrate")
        # the CLI import is timed on smaller stores (time_pg_import); the big one is the
        # readers of the same CSV, as read_csv makes them, written by COPY (Store.load)
        check_subscribers_of(folder)
        started = time.perf_counter()
        loaded = load_subscribers(location, subscribers_of(n))
        import_seconds = time.perf_counter() - started
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"  {loaded:,} written by COPY in {import_seconds:.1f} s")
    else:
        csv = folder / "subscribers.csv"
        write_csv(csv, n)
        started = time.perf_counter()
        usage = folder / "import.usage"
        imported = digest(config, "subscribers", "import", str(csv), usage=usage)
        import_seconds = time.perf_counter() - started
        rss = own_peak.read(usage)[0] / 1024
        print(f"  {imported.stdout.strip()} in {import_seconds:.1f} s")
    size = 0.0 if pg else Path(location).stat().st_size / 1e6

    run = time.strftime("%m%d%H%M%S")  # a kept store: this run's new addresses are new
    rng = random.Random(run)
    quarter = requests // 4
    variants = [(rate, False, True, w) for w in workers for rate in rates]
    variants += [(r, True, True, 1) for r in rates] if unlocked else []
    variants += [(r, False, False, 1) for r in rates] if httpx_too else []
    reader = open_store(location if pg else Path(location))
    readers = confirmed_readers(reader, n, 2 * quarter * len(variants), rng, pg)
    results = []
    for number, (rate, without_lock, lean, processes) in enumerate(variants):
        mine = readers[number * 2 * quarter : (number + 1) * 2 * quarter]
        new = [f"new{label.lower()}{run}r{number}x{i:05}@example.org" for i in range(quarter)]
        how = f"{rate:.0f}/s offered" if rate else "flat out"
        name = f"{label}, {how}" + (f", {processes} web workers" if processes > 1 else "")
        name += ", no web store lock" if without_lock else ""
        name += "" if lean else ", httpx clients"
        server_profile = profile if profile and number == 0 else None
        phases = serve_and_load(
            folder,
            config,
            reader,
            port,
            clients,
            pg,
            new,
            mine,
            rate,
            server_profile,
            without_lock,
            location,
            lean,
            processes,
            db_pid,
        )
        result = Result(name, n, import_seconds, rss, size, phases)
        report(result)
        results.append(result)
    if ops:
        spare = rng.sample(range(n), 2 * ops)
        found = ids_of(reader, [email_of(i) for i in spare], pg)
        time_ops(reader, label, [found[email_of(i)] for i in spare], ops)
    return results


def confirmed_readers(store: Store, n: int, count: int, rng: random.Random, pg: bool) -> list[str]:
    """The ids of ``count`` imported readers, picked at random among those still confirmed
    (a kept store's earlier runs unsubscribed some)."""
    picked = rng.sample(range(n), count + count // 10 + 10)
    emails = [email_of(i) for i in picked]
    if pg:
        subs = [store.get_subscriber(e) for e in emails]
    else:
        wanted = set(emails)
        subs = [s for s in store.list_subscribers() if s.email in wanted]
    ids = [s.id for s in subs if s is not None and s.status == Status.CONFIRMED]
    assert len(ids) >= count, "too few confirmed readers left in the kept store"
    return ids[:count]


def time_ops(store: Store, label: str, readers: list[str], count: int) -> None:
    """The store's own share: each reader-facing operation called here in process, one at
    a time, ``count`` times (what ``Site.db`` runs in its worker thread)."""
    now = datetime.now(UTC)
    choices = Choices(digests=("daily",), topics=("reasoning", "world models"))
    new = [f"op{label.lower()}{i:05}@example.org" for i in range(count)]
    pending: list[str] = []

    def request(email: str) -> None:
        pending.append(store.request_subscription(email, choices, now=now, consent="bench")[0].id)

    ops: list[tuple[str, Callable[[str], object], list[str]]] = [
        ("read (get_subscriber_by_id)", store.get_subscriber_by_id, readers[:count]),
        ("request_subscription", request, new),
        ("confirm_subscription", lambda i: store.confirm_subscription(i, now=now), pending),
        (
            "update_preferences",
            lambda i: store.update_preferences(i, choices, paused=False),
            readers[:count],
        ),
        ("unsubscribe", lambda i: store.unsubscribe(i, None, ("daily",)), readers[count:]),
    ]
    print(f"{label}: each store operation alone, in process, {count} times one at a time:")
    for name, operation, items in ops:
        times = []
        for item in list(items):
            started = time.perf_counter()
            operation(item)
            times.append(time.perf_counter() - started)
        print(f"  {name:28} median {pct(times, 50):6.2f} ms, p99 {pct(times, 99):6.2f} ms")


def serve_and_load(
    folder: Path,
    config: Path,
    store: Store,
    port: int,
    clients: int,
    pg: bool,
    new: list[str],
    readers: list[str],
    rate: float | None,
    profile: Path | None,
    unlocked: bool,
    location: str = "",
    lean: bool = True,
    workers: int = 1,
    db_pid: int = 0,
) -> list[Phase]:
    quarter = len(new)
    prefs, leaving = readers[:quarter], readers[quarter:]
    log = folder / "serve.log"
    env = {**os.environ, "DIGEST_CONFIG": str(config), "DIGEST_SECRET": SECRET}
    env.pop("DIGEST_STORE", None)
    command = [sys.executable, "-m", "digest", "serve", "--no-scheduler", "--port", str(port)]
    command += ["--workers", str(workers)]
    if unlocked:
        command[1:3] = ["-c", UNLOCKED]
    if profile is not None:  # the server under cProfile, written when it stops (SIGINT)
        command[1:1] = ["-m", "cProfile", "-o", str(profile)]
    with log.open("wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    phases: list[Phase] = []
    try:
        wait_http(base, server, log)

        async def drive() -> None:
            load = Load(base, clients, rate, server.pid, lean=lean, db_pid=db_pid)
            await load.open()
            try:
                phase = await load.run("subscribe", new, subscribe, "Check your inbox")
                # the writes follow the answers: the phase ends when the last is stored
                # (on PostgreSQL they run side by side, so not necessarily in order)
                while not await asyncio.to_thread(all_stored, store, new, pg, location):
                    await asyncio.sleep(0.02)
                phase.finish()
                phases.append(phase)
                fresh = await asyncio.to_thread(ids_of, store, new, pg)
                assert len(fresh) == len(new), f"{len(new) - len(fresh)} subscribes not stored"
                confirm_ids = [fresh[e] for e in new]
                phases.append(await load.run("confirm", confirm_ids, confirm, "You are subscribed"))
                phases.append(await load.run("preferences", prefs, save_preferences, "Saved."))
                phases.append(
                    await load.run("unsubscribe", leaving, unsubscribe, "You are unsubscribed")
                )
            finally:
                await load.close()

        asyncio.run(drive())
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
    return phases


def report(result: Result) -> None:
    print(f"{result.label} at {result.subscribers:,} subscribers:")
    for p in result.phases:
        print(
            f"  {p.name:12} {len(p.latencies):5} POSTs in {p.wall:6.1f} s: "
            f"p50 {pct(p.latencies, 50):7.1f} ms, p99 {pct(p.latencies, 99):7.1f} ms, "
            f"{len(p.latencies) / p.wall:6.1f} writes/s, {p.failures} failed; server CPU "
            f"{p.cpu / max(1, len(p.latencies)) * 1000:.2f} ms a POST (clients "
            f"{p.client_cpu / max(1, len(p.latencies)) * 1000:.2f}, database "
            f"{p.db_cpu / max(1, len(p.latencies)) * 1000:.2f}), load {p.load:.1f}, "
            f"steal {p.steal:.0%}"
        )
    every = result.latencies
    print(
        f"  all          {len(every):5} POSTs: p50 {pct(every, 50):.1f} ms, "
        f"p99 {pct(every, 99):.1f} ms, {result.writes_per_s:.1f} writes/s "
        f"(mean {statistics.mean(every) * 1000:.1f} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=4000, help="POSTs per PostgreSQL load")
    parser.add_argument("--tiny-subscribers", type=int, default=100_000)
    parser.add_argument("--tiny-requests", type=int, default=80, help="POSTs on TinyDB")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--rate",
        type=float,
        action="append",
        help="an offered rate of writes/s for a PostgreSQL load (repeatable; default: one "
        "load flat out and one at 300/s)",
    )
    parser.add_argument(
        "--unlocked", action="store_true", help="also each load without the web store lock"
    )
    parser.add_argument(
        "--httpx", action="store_true", help="also each load with httpx's clients (the old ones)"
    )
    parser.add_argument(
        "--workers",
        type=lambda v: tuple(int(x) for x in v.split(",")),
        default=(1, 2),
        help="each PostgreSQL load once per number of web workers (comma-separated; default 1,2)",
    )
    parser.add_argument("--no-tiny", action="store_true", help="PostgreSQL only")
    parser.add_argument("--no-pg", action="store_true", help="TinyDB only")
    parser.add_argument("--ops", type=int, default=200, help="in-process calls per store op")
    parser.add_argument("--tiny-ops", type=int, default=5, help="the same on TinyDB")
    parser.add_argument(
        "--import-sizes",
        type=lambda v: [int(x) for x in v.split(",") if x],
        default=[10_000, 30_000],
        help="store sizes the PostgreSQL CLI import is timed at (comma-separated; '' none)",
    )
    parser.add_argument("--profile", type=Path, help="cProfile the PostgreSQL server into FILE")
    parser.add_argument(
        "--keep",
        type=Path,
        help="keep the PostgreSQL cluster in DIR, and reuse the store a run left there",
    )
    args = parser.parse_args()
    rates: tuple[float | None, ...] = (None, *(args.rate or [300.0]))
    print(f"machine: {machine()}, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp, throwaway_cluster(args.keep) as cluster:
        print(f"server: {cluster.version} (fsync on, synchronous_commit on)")
        if args.import_sizes:
            time_pg_import(cluster, Path(tmp) / "import", args.import_sizes)
        pg: list[Result] = []
        if not args.no_pg:
            url = cluster.url("bench")
            if stored_count(url) is None:
                url = cluster.create_db("bench")
            pg = bench_store(
                "PostgreSQL",
                Path(tmp) / "pg",
                url,
                args.subscribers,
                args.requests,
                args.clients,
                pg=True,
                profile=args.profile,
                rates=rates,
                unlocked=args.unlocked,
                ops=args.ops,
                httpx_too=args.httpx,
                workers=args.workers,
                db_pid=cluster.pid(),
            )
            print(f"  database size {cluster.size('bench') / 1e6:,.0f} MB")
        if args.no_tiny:
            return
        tiny_folder = Path(tmp) / "tiny"
        (tiny,) = bench_store(
            "TinyDB",
            tiny_folder,
            str(tiny_folder / "store.json"),
            args.tiny_subscribers,
            args.tiny_requests,
            args.clients,
            pg=False,
            ops=args.tiny_ops,
        )
    print(f"  TinyDB file {tiny.size_mb:,.0f} MB")
    if not pg:
        return
    flat = pg[0]
    print(
        f"PostgreSQL at {flat.subscribers:,} (flat out) against TinyDB at {tiny.subscribers:,}: "
        f"p50 {pct(tiny.latencies, 50) / pct(flat.latencies, 50):.1f}x lower, "
        f"writes/s {flat.writes_per_s / tiny.writes_per_s:.1f}x higher; import "
        f"{flat.subscribers / flat.import_seconds:,.0f} against "
        f"{tiny.subscribers / tiny.import_seconds:,.0f} subscribers/s"
    )


if __name__ == "__main__":
    main()
