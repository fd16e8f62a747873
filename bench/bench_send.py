"""The delivery benchmark: a whole edition to many subscribers, end to end (rerun: make bench-send).

    1. a store with N confirmed subscribers, each with 3-5 topics from a vocabulary;
    2. an aiosmtpd sink in another process that waits --delay (20 ms) before answering DATA,
       like a real relay;
    3. ``digest send`` run as an operator runs it (a subprocess: fetch and parse a real HF day,
       rank, render, inline, MIME, ledger, SMTP pool), timed from start to exit, with its peak
       memory;
    4. the same messages through a plain sequential smtplib loop (compose, then
       ``smtplib.SMTP.sendmail`` over one connection: what most peer scripts do), on the first
       --baseline subscribers, reported as a ratio.

With --dkim every message is DKIM-signed in process (``sender.dkim``, a fresh 2048-bit RSA
key), in the send and in the smtplib loop alike, and the cost of one signature is timed alone
first (on one composed message, --signatures times).

With ``--store postgresql`` the store is a PostgreSQL database on a throwaway cluster
(bench/pg.py: fsync on; the subscribers written by COPY), and ``--senders N`` starts N
``digest send`` processes together on the same edition: they share its deliveries (issue 16).
The throughput is the relay's messages over the wall time from the first start to the last
exit; each sender's peak RSS is its own (measured by a small parent, bench/own_peak.py: a
child of this process would otherwise report this process's size as its peak). ``--baseline 0``
skips the smtplib loop.
``--profile FILE`` runs the one ``digest send`` under cProfile and writes its statistics to
FILE (read them with ``python -m pstats FILE``; the CPU figures then include cProfile's cost).

Usage: python bench/bench_send.py [--subscribers 100000] [--connections 64] [--baseline 2000]
                                  [--dkim [--signatures 200]]
                                  [--store tinydb|postgresql [--senders N]] [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import random
import re
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, suppress
from datetime import UTC, date, datetime
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import own_peak
from pg import load_subscribers, throwaway_cluster

from digest.config import load_config
from digest.config.sources import parse_source_spec
from digest.fetch import read_local
from digest.models import Email, Status, Subscriber
from digest.parse import parse_bytes
from digest.pipeline.compose import Composer, EditionRequest
from digest.render.dkim import DkimSigner
from digest.store import History, TinyStore, open_store

REPO = Path(__file__).resolve().parent.parent
DAY = REPO / "digest" / "samples" / "hf-daily-2025-11-25.json"  # a real HF day, 31 papers
EDITION_DATE = date(2025, 11, 26)
BENCH_SECRET = "bench-0123456789abcdef0123456789abcdef"  # 32+ characters: base_url is public
TOPICS = [
    "diffusion models",
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
    "3d reconstruction",
    "multimodal agents",
    "code generation",
    "alignment",
    "interpretability",
    "world models",
    "federated learning",
    "time series",
    "medical imaging",
    "protein design",
    "tokenization",
    "long context",
    "state space models",
    "benchmark",
    "evaluation",
    "scaling laws",
    "distillation",
    "optimization",
    "regularization",
    "random features",
    "kernel methods",
    "bayesian inference",
]

CONFIG = """\
store: {store}
outbox: {outbox}
base_url: https://papers.example.org
sender:
  from: "Daily Papers <papers@example.org>"
  postal_address: "1 Research Way, Cambridge"
  unsubscribe_mailto: unsubscribe@example.org
{dkim}smtp:
  host: 127.0.0.1
  port: {port}
  security: none
  timeout: 30
  retries: 3
  connections: {connections}
digests:
  daily:
    title: Daily Papers
    sources: [{day}]
    schedule: "0 7 * * mon-fri"
    timezone: UTC
    size: 10
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_sink(port: int, delay: float, count: Synchronized[int]) -> None:
    """An aiosmtpd relay stand-in: waits ``delay`` before accepting each message."""
    from aiosmtpd.controller import Controller

    class Relay:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            await asyncio.sleep(delay)
            with count.get_lock():
                count.value += 1
            return "250 2.0.0 queued"

    controller = Controller(Relay(), hostname="127.0.0.1", port=port, data_size_limit=0)
    controller.start()
    time.sleep(24 * 3600)


def make_subscribers(n: int) -> list[Subscriber]:
    rng = random.Random(20251126)
    return [
        Subscriber(
            email=f"reader{i:06}@example.org",
            id=f"r{i:06}",
            status=Status.CONFIRMED,
            topics=tuple(rng.sample(TOPICS, rng.randint(3, 5))),
        )
        for i in range(n)
    ]


def timed_send(config: Path, profile: Path | None = None) -> tuple[float, str, int, float]:
    """``digest send`` as an operator runs it: seconds, its output, its peak RSS in KB and
    the CPU seconds it used; under cProfile, its statistics written to ``profile``."""
    env = {**os.environ, "DIGEST_SECRET": BENCH_SECRET}
    profiler = ["-m", "cProfile", "-o", str(profile)] if profile else []
    command = [sys.executable, *profiler, "-m", "digest", "--config", str(config), "send"]
    report = config.with_name("sender.usage")
    started = time.perf_counter()
    done = subprocess.run(
        own_peak.wrapped([*command, "--date", EDITION_DATE.isoformat()], report),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"digest send failed:\n{done.stdout}\n{done.stderr}")
    return seconds, done.stdout, *own_peak.read(report)


def timed_senders(
    config: Path, senders: int, folder: Path
) -> tuple[float, list[str], list[int], float]:
    """``senders`` ``digest send`` processes started together on one edition: seconds from
    the first start to the last exit, their outputs, each one's peak RSS in KB (its own:
    :mod:`own_peak`) and the CPU seconds they used in all."""
    env = {**os.environ, "DIGEST_SECRET": BENCH_SECRET}
    env.pop("DIGEST_STORE", None)
    command = [sys.executable, "-m", "digest", "--config", str(config), "send"]
    command += ["--date", EDITION_DATE.isoformat()]
    logs = [folder / f"sender-{i}.log" for i in range(senders)]
    reports = [log.with_suffix(".usage") for log in logs]
    started = time.perf_counter()
    children = []
    for log, report in zip(logs, reports, strict=True):
        with log.open("wb") as out:
            measured = own_peak.wrapped(command, report)
            children.append(subprocess.Popen(measured, stdout=out, stderr=out, env=env))
    peaks, cpu, failed = [], 0.0, []
    for child, log, report in zip(children, logs, reports, strict=True):
        if child.wait():
            failed.append(log)
            continue
        peak, seconds = own_peak.read(report)
        peaks.append(peak)
        cpu += seconds
    seconds = time.perf_counter() - started
    outputs = [log.read_text() for log in logs]
    if failed:
        sys.exit("digest send failed:\n" + "\n".join(p.read_text() for p in failed))
    return seconds, outputs, peaks, cpu


def make_key(path: Path) -> str:
    """A fresh 2048-bit RSA key in PEM at ``path``; the YAML that signs with it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    return f"  dkim:\n    selector: bench\n    key_file: {path}\n"


def make_composer(config_path: Path, signed: bool) -> Composer:
    """The edition's composer as ``digest send`` makes it, signing when ``signed``."""
    config = load_config(config_path, env={"DIGEST_SECRET": BENCH_SECRET})
    digest = config.digest("daily")
    spec = parse_source_spec(str(DAY))
    papers = parse_bytes(read_local(str(DAY)), kind=spec.kind, source="", today=EDITION_DATE)
    target = EditionRequest(digest, EDITION_DATE, datetime.now(UTC), (spec,))
    dkim = config.sender.dkim
    signer = DkimSigner.from_config(dkim) if signed and dkim else None
    return Composer(target, papers.papers, config=config, secret=BENCH_SECRET, signer=signer)


def time_signature(config_path: Path, sub: Subscriber, times: int) -> tuple[float, int]:
    """Milliseconds per DKIM signature of one composed message (the key parsed once, as a
    run does), and the message's size in bytes."""
    config = load_config(config_path, env={"DIGEST_SECRET": BENCH_SECRET})
    assert config.sender.dkim is not None
    signer = DkimSigner.from_config(config.sender.dkim)
    email = make_composer(config_path, signed=False).compose(sub, History())
    assert isinstance(email, Email)
    signer.sign(email.raw)
    started = time.perf_counter()
    for _ in range(times):
        signer.sign(email.raw)
    return (time.perf_counter() - started) / times * 1000, len(email.raw)


def smtplib_loop(
    config_path: Path, subs: list[Subscriber], port: int, signed: bool = False
) -> tuple[float, float]:
    """The peer-script way: compose and send one message at a time over one connection.
    Returns (messages/s including composing, messages/s of the SMTP part alone)."""
    composer = make_composer(config_path, signed)
    smtp_seconds = 0.0
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as client:
        for sub in subs:
            email = composer.compose(sub, History())
            assert isinstance(email, Email)
            sending = time.perf_counter()
            client.sendmail(email.envelope_from, [email.recipient], email.raw)
            smtp_seconds += time.perf_counter() - sending
    total = time.perf_counter() - started
    return len(subs) / total, len(subs) / smtp_seconds


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid``, of its children it has reaped, and of those still running (the
    PostgreSQL server: the postmaster and its backends, gone ones included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    total = sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            with suppress(FileNotFoundError):
                total += _cpu_seconds(int(child))
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--delay", type=float, default=0.020, help="relay's DATA delay (s)")
    parser.add_argument("--baseline", type=int, default=2000, help="messages for smtplib loop")
    parser.add_argument("--dkim", action="store_true", help="DKIM-sign every message")
    parser.add_argument("--signatures", type=int, default=200, help="signatures timed alone")
    parser.add_argument("--store", choices=["tinydb", "postgresql"], default="tinydb")
    parser.add_argument("--senders", type=int, default=1, help="digest send processes at once")
    parser.add_argument("--profile", type=Path, help="run digest send under cProfile, stats here")
    args = parser.parse_args()
    if args.senders > 1 and args.store != "postgresql":
        parser.error("--senders above 1 needs --store postgresql (TinyDB allows one sender)")
    if args.profile and (args.senders > 1 or args.store != "tinydb"):
        parser.error("--profile profiles one sender on TinyDB")
    print(
        f"machine: {platform.processor() or platform.machine()}, "
        f"{multiprocessing.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )

    count: Synchronized[int] = multiprocessing.Value("i", 0)  # type: ignore[assignment]
    port = free_port()
    sink = multiprocessing.Process(target=run_sink, args=(port, args.delay, count), daemon=True)
    sink.start()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        folder = Path(tmp)
        url = None
        if args.store == "postgresql":
            cluster = stack.enter_context(throwaway_cluster())
            url = cluster.create_db("bench")
            print(f"server: {cluster.version} (fsync on)")
        config = folder / "schedules.yaml"
        config.write_text(
            CONFIG.format(
                store=url or folder / "store.json",
                outbox=folder / "outbox",
                port=port,
                connections=args.connections,
                day=DAY,
                dkim=make_key(folder / "dkim.pem") if args.dkim else "",
            )
        )
        subs = make_subscribers(args.subscribers)
        if args.dkim:
            ms, size = time_signature(config, subs[0], args.signatures)
            print(f"DKIM (RSA 2048): {ms:.2f} ms per signature of a {size / 1024:.0f} KB message")
        started = time.perf_counter()
        if url is None:
            TinyStore(folder / "store.json").save_subscribers(subs)
        else:
            open_store(url).migrate()
            load_subscribers(url, subs)
        print(f"setup: {len(subs):,} subscribers stored in {time.perf_counter() - started:.1f} s")
        time.sleep(0.5)  # the sink is listening by now

        sink_cpu = _cpu_seconds(sink.pid)
        db_cpu = _tree_cpu(cluster.pid()) if url is not None else 0.0
        if url is None and args.senders == 1:
            seconds, output, peak_kb, cpu = timed_send(config, args.profile)
            outputs, peaks = [output], [peak_kb]
        else:
            seconds, outputs, peaks, cpu = timed_senders(config, args.senders, folder)
        sink_cpu = _cpu_seconds(sink.pid) - sink_cpu
        db_cpu = _tree_cpu(cluster.pid()) - db_cpu if url is not None else 0.0
        sent = 0
        for number, output in enumerate(outputs, 1):
            summary = next(line for line in output.splitlines() if "sent " in line)
            sent += int(re.search(r"sent (\d+)", summary).group(1))  # type: ignore[union-attr]
            print(f"digest send{f' #{number}' if len(outputs) > 1 else ''}: {summary.strip()}")
        if url is None:
            size = sum(p.stat().st_size for p in (folder / "store.ledger").rglob("*.json"))
            where = f"ledger {size / 1e6:.1f} MB"
        else:
            where = f"database {cluster.size('bench') / 1e6:.0f} MB"
        rss = ", ".join(f"{kb / 1024:,.0f}" for kb in peaks)
        print(
            f"  {sent:,} messages in {seconds:.1f} s = {sent / seconds:,.0f} messages/s "
            f"end to end ({args.store}, {args.senders} sender(s)); peak RSS {rss} MB; "
            f"the relay got {count.value:,}; {where}"
        )
        print(
            f"  CPU per message: digest {cpu / sent * 1000:.2f} ms, "
            f"relay {sink_cpu / sent * 1000:.2f} ms"
            + (f", database {db_cpu / sent * 1000:.2f} ms" if url is not None else "")
        )
        if count.value != sent:
            sys.exit(f"the relay received {count.value} messages, digest reported {sent}")

        if not args.baseline:
            sink.terminate()
            return
        baseline_subs = subs[: args.baseline]
        with_compose, smtp_only = smtplib_loop(config, baseline_subs, port, args.dkim)
        ours = sent / seconds
        print(
            f"smtplib loop ({len(baseline_subs):,} messages): {with_compose:,.1f} messages/s "
            f"composing + sending ({smtp_only:,.1f}/s for the SMTP part alone)"
        )
        print(f"ratio: {ours / with_compose:.1f}x faster than the sequential smtplib loop")
    sink.terminate()


if __name__ == "__main__":
    main()
