"""Mail that comes back: real bounces, complaints and auto-replies classified (fixtures from
public corpora, tests/fixtures/bounces/README.md), and matched to the delivery they are about
only by a signed token or a Message-ID the ledger holds."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import date
from email import message_from_bytes
from pathlib import Path

import pytest
from bounce_mail import arf, auto_reply, dsn, unsubscribe
from conftest import FIXTURES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_render import NOW, SETTINGS, TEMPLATES, basic_ranked

from digest.config import Config, load_config
from digest.inbound import classify
from digest.links import DEV_SECRET
from digest.models import DeliveryStatus, Edition, Email, MailEventKind, Status, Subscriber
from digest.pipeline.compose import make_links
from digest.pipeline.inbound import Outcome, process_message, summary_lines
from digest.render import make_environment, render_email
from digest.store import TinyStore

K = MailEventKind
BOUNCES = FIXTURES / "bounces"
EDITION = Edition("daily", date(2026, 11, 24), "Daily Papers")

#: file, kind, RFC 3463 status, failed address. The status codes are those sisimai's own
#: tests expect of the same files (p5-sisimai t/*.t), where it gives a real one.
CLASSIFIED = [
    ("arf-02", K.COMPLAINT, "", "this-local-part-does-not-exist-on-yahoo@yahoo.com"),  # Yahoo
    ("arf-14", K.COMPLAINT, "", "kijitora@y.example.com"),  # Yahoo FBL about an SES message
    ("arf-16", K.COMPLAINT, "", "kijitora@example.com"),  # Return Path FBL
    ("arf-22", K.COMPLAINT, "", ""),  # Microsoft JMRP (Hotmail), not ARF
    ("lhost-amazonses-03", K.HARD_BOUNCE, "5.2.2", "kijitora@example.jp"),
    ("lhost-amazonses-05", K.HARD_BOUNCE, "5.1.1", "bounce@simulator.amazonses.com"),
    ("lhost-amazonses-07", K.HARD_BOUNCE, "5.7.6", "6@neko.nyaan.example.org"),
    ("lhost-courier-01", K.HARD_BOUNCE, "5.1.1", "kijitora@example.co.jp"),
    ("lhost-exchange2003-01", K.HARD_BOUNCE, "", "kijitora@example.jp"),
    ("lhost-exchange2007-01", K.HARD_BOUNCE, "5.1.1", "mikeneko@example.co.jp"),
    ("lhost-exchange2007-05", K.SOFT_BOUNCE, "4.4.7", "gwang1@student.mlcsyd.nsw.edu.au"),
    ("lhost-exim-02", K.HARD_BOUNCE, "5.1.1", "kijitora@example.jp"),
    ("lhost-exim-05", K.HARD_BOUNCE, "5.1.1", "kijitora@neko.example.co.jp"),
    ("lhost-exim-06", K.HARD_BOUNCE, "", "kijitora@example.com"),  # retry time exceeded
    ("lhost-gmail-01", K.HARD_BOUNCE, "5.1.1", "userunknown@example.jp"),
    ("lhost-gmail-04", K.HARD_BOUNCE, "5.7.1", "kijitora@example.com"),
    ("lhost-gmail-06", K.SOFT_BOUNCE, "4.2.2", "kijitora@example.jp"),
    ("lhost-gmail-09", K.SOFT_BOUNCE, "", "kijitora@9jo.example.jp"),  # "will be retried"
    (
        "lhost-office365-04",
        K.HARD_BOUNCE,
        "5.1.351",
        "otsu-sakaba-hunter-neko-nyaaaaaaan@ezweb.ne.jp",
    ),
    ("lhost-office365-06", K.HARD_BOUNCE, "5.4.312", "neko@libsisimai.org"),
    ("lhost-opensmtpd-06", K.SOFT_BOUNCE, "", "nekochan@libsisimai.org"),  # kept in queue
    ("lhost-outlook-02", K.HARD_BOUNCE, "5.1.1", "kijitora@example.jp"),
    ("lhost-outlook-06", K.SOFT_BOUNCE, "4.4.7", "kijitora@example.com"),  # Action: delayed
    ("lhost-postfix-02", K.HARD_BOUNCE, "5.2.1", "filtered@example.co.jp"),
    ("lhost-postfix-04", K.HARD_BOUNCE, "5.1.1", "kijitora@example.co.jp"),
    ("lhost-postfix-05", K.SOFT_BOUNCE, "4.1.1", "kijitora@example.org"),
    ("lhost-postfix-06", K.HARD_BOUNCE, "5.4.4", "kijitora@neko.example.jp"),
    ("lhost-postfix-08", K.SOFT_BOUNCE, "4.4.1", "kijitora@example.com"),
    ("lhost-qmail-03", K.HARD_BOUNCE, "5.7.1", "kijitora@example.org"),
    ("lhost-qmail-06", K.SOFT_BOUNCE, "4.2.2", "kijitora@example.jp"),
    ("lhost-qmail-08", K.HARD_BOUNCE, "", "shironeko@example.ad.jp"),  # 552 without a code
    ("lhost-sendmail-01", K.HARD_BOUNCE, "5.1.1", "userunknown@bouncehammer.jp"),
    ("lhost-sendmail-05", K.HARD_BOUNCE, "5.2.3", "kijitora@example.org"),
    ("lhost-sendmail-08", K.SOFT_BOUNCE, "4.7.1", "neko@example.org"),
    ("lhost-yahoo-01", K.HARD_BOUNCE, "5.1.1", ""),
    ("lhost-yahoo-03", K.HARD_BOUNCE, "5.1.1", "kijitora@example.jp"),
    ("lhost-yahoo-06", K.HARD_BOUNCE, "", "otsu-sakaba-hunter-neko-nyaaaaaaan@ezweb.ne.jp"),
    ("rfc3464-01", K.HARD_BOUNCE, "5.1.1", "userunknown@bouncehammer.jp"),
    ("rfc3464-07", K.SOFT_BOUNCE, "4.4.0", "kijitora@example.net"),  # Action: delayed
    ("rfc3834-01", K.AUTO_REPLY, "", ""),
    ("rfc3834-02", K.AUTO_REPLY, "", ""),  # "Automatic reply:" (Outlook)
    ("rfc3834-06", K.AUTO_REPLY, "", ""),
    ("arf-26", K.AUTO_REPLY, "", ""),  # Apple Mail's mailto unsubscribe: a token makes it one
    ("arf-12", None, "", ""),  # feedback of type opt-out: no complaint
    ("arf-18", None, "", ""),  # feedback of type auth-failure (DMARC): no complaint
    ("not-bounce-01", None, "", ""),
    # flufl.bounce's own test data (the addresses its tests expect; dsn_05 is its temporary one)
    ("flufl-aol_01", K.HARD_BOUNCE, "", "screenname@aol.com"),
    ("flufl-dsn_05", K.SOFT_BOUNCE, "4.4.1", "pkocmid@atlas.cz"),
    ("flufl-dsn_09", K.HARD_BOUNCE, "5.7.1", "pr@allen-heath.com"),
    ("flufl-exim_01", K.HARD_BOUNCE, "5.1.1", "delangen@its.tudelft.nl"),
    ("flufl-groupwise_01", K.HARD_BOUNCE, "", "thoff@mainex1.asu.edu"),
    ("flufl-llnl_01", K.HARD_BOUNCE, "", "trotts1@llnl.gov"),
    ("flufl-microsoft_01", K.HARD_BOUNCE, "", "djbennett@ikon.com"),  # Exchange
    ("flufl-netscape_01", K.HARD_BOUNCE, "", "aaaaa@corel.com"),
    ("flufl-postfix_01", K.HARD_BOUNCE, "5.1.1", "xxxxx@local.ie"),
    ("flufl-qmail_01", K.HARD_BOUNCE, "", "psadisc@wwwmail.n-h.de"),
    ("flufl-sendmail_01", K.HARD_BOUNCE, "", "zzzzz@nfg.nl"),
    ("flufl-simple_01", K.HARD_BOUNCE, "", "bbbsss@turbosport.com"),
    ("flufl-simple_08", K.HARD_BOUNCE, "", "severin.xxx@t-online.de"),  # "550 user unknown"
    ("flufl-simple_32", K.HARD_BOUNCE, "", "teteyn@agence-forbin.com"),  # "was aborted"
    ("flufl-sina_01", K.HARD_BOUNCE, "", "alan_t18@sina.com"),
    ("flufl-smtp32_01", K.HARD_BOUNCE, "", "oliver@pcworld.com.ph"),
    ("flufl-yahoo_02", K.HARD_BOUNCE, "5.0.0", "agarciamartiartu@yahoo.es"),
    ("flufl-yale_01", K.HARD_BOUNCE, "", "thomas.dtankengine@cs.yale.edu"),
]


def test_every_fixture_is_in_the_table() -> None:
    assert sorted(p.stem for p in BOUNCES.glob("*.eml")) == sorted(c[0] for c in CLASSIFIED)


@pytest.mark.parametrize(("name", "kind", "status", "recipient"), CLASSIFIED)
def test_real_returned_mail_is_classified(
    name: str, kind: MailEventKind | None, status: str, recipient: str
) -> None:
    verdict = classify((BOUNCES / f"{name}.eml").read_bytes())
    assert (verdict.kind, verdict.status, verdict.recipient.lower()) == (kind, status, recipient)
    assert verdict.reason and verdict.event_id
    if kind in (K.HARD_BOUNCE, K.SOFT_BOUNCE):
        assert verdict.diagnostic, "a bounce keeps what the server said"


def test_a_bounce_keeps_the_diagnostic_and_names_the_original() -> None:
    verdict = classify((BOUNCES / "lhost-postfix-05.eml").read_bytes())
    assert "User unknown in virtual alias table" in verdict.diagnostic
    assert verdict.message_ids == ("<FFFFFFFF.0000000@example.co.jp>",)
    verdict = classify((BOUNCES / "lhost-exchange2003-01.eml").read_bytes())
    assert verdict.diagnostic.startswith("The recipient name is not recognized")


# never anything but a verdict, however malformed ------------------------------------------

_PIECES = [
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n",
    b"Content-Type: message/delivery-status\r\n",
    b"Content-Type: message/rfc822\r\n",
    b"Content-Type: text/rfc822-headers\r\n",
    b'Content-Type: multipart/mixed; boundary=""\r\n',
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"Subject: =?utf-8?b?////?= =?x-unknown?q?=FF?=\r\n",
    b"Status: 5.1.1\r\nAction: failed\r\nFinal-Recipient: rfc822;\r\n",
    b"Feedback-Type: abuse\r\n",
    b"From: MAILER-DAEMON <>\r\nReturn-Path: <>\r\n",
    b"Date: Mon, 99 Foo 20000 99:99:99 +9999\r\n",
    b"To: bounces+aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.org\r\n",
    b"--x\r\n",
    b"--x--\r\n",
    b"\r\n",
    b"\x00\xff\xfe\r\n",
    b" folded continuation\r\n",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_PIECES) | st.binary(max_size=60), max_size=40))
def test_no_message_however_malformed_raises(pieces: list[bytes]) -> None:
    verdict = classify(b"".join(pieces))
    assert verdict.reason


_REAL = sorted(BOUNCES.glob("*.eml"))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(_REAL), st.data())
def test_a_real_bounce_cut_or_scrambled_still_gives_a_verdict(
    path: Path, data: st.DataObject
) -> None:
    raw = path.read_bytes()
    start = data.draw(st.integers(0, len(raw)))
    end = data.draw(st.integers(start, len(raw)))
    junk = data.draw(st.binary(max_size=30))
    assert classify(raw[:start] + junk + raw[end:]).reason


def test_deep_nesting_and_huge_input_are_refused_calmly() -> None:
    nested = b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n" * 3000
    assert classify(nested).reason
    assert "too big" in classify(b"x" * (21 * 1024 * 1024)).reason


# matched to our deliveries: tokens and Message-IDs --------------------------------------


@dataclasses.dataclass
class Sent:
    config: Config
    store: TinyStore
    reader: Subscriber
    email: Email  # the message we sent the reader
    return_path: str
    mailto: str


@pytest.fixture
def sent(config_file: Callable[..., Path], tmp_path: Path) -> Sent:
    path = config_file()
    text = path.read_text().replace("sender:\n", "sender:\n  envelope_from: bounces@example.org\n")
    path.write_text(text)
    config = load_config(path, {})
    store = TinyStore(tmp_path / "store.json")
    reader = store.save_subscriber(Subscriber("ada@example.org", "", digests=("daily",)))[0]
    links = make_links(config, DEV_SECRET, reader, EDITION)
    env = make_environment([TEMPLATES])
    settings = dataclasses.replace(SETTINGS, envelope_from="bounces@example.org")
    email = render_email(EDITION, reader, basic_ranked(), links, settings, NOW, env)
    _ledger(store, email)
    assert links.return_path and links.unsubscribe_mailto
    mailto = links.unsubscribe_mailto.removeprefix("mailto:").partition("?")[0]
    return Sent(config, store, reader, email, links.return_path, mailto)


def _ledger(store: TinyStore, email: Email) -> None:
    async def go() -> None:
        await send.ledger.claim(email.recipient, email.message_id, email.paper_ids)
        await send.ledger.finish(email.recipient, DeliveryStatus.SENT)

    with store.sending(EDITION, [r.paper for r in basic_ranked()], sender="test") as send:
        asyncio.run(go())


def _status(s: Sent) -> Subscriber:
    sub = s.store.get_subscriber(s.reader.email)
    assert sub is not None
    return sub


def test_a_bounce_to_the_return_path_is_recorded_against_its_delivery(sent: Sent) -> None:
    raw = dsn(sent.email.raw, to=sent.return_path, recipient="ada@example.org")
    report = process_message(sent.store, sent.config, raw, "file b.eml")
    assert report.outcome == Outcome.RECORDED and report.processed
    assert report.event is not None
    assert (report.event.kind, report.event.edition, report.event.email) == (
        K.HARD_BOUNCE,
        EDITION.key,
        "ada@example.org",
    )
    assert report.event.status == "5.1.1" and "User unknown" in report.event.diagnostic
    assert process_message(sent.store, sent.config, raw, "again").outcome == Outcome.DUPLICATE
    assert sent.store.mail_events(edition=EDITION.key) == (report.event,)


def test_the_token_is_found_whatever_case_the_mta_folded_it_to(sent: Sent) -> None:
    raw = dsn(sent.email.raw, to=sent.return_path.upper(), recipient="ada@example.org")
    assert process_message(sent.store, sent.config, raw, "x").outcome == Outcome.RECORDED


def test_two_hard_bounces_in_a_row_suppress_the_reader(sent: Sent) -> None:
    for n in range(2):
        raw = dsn(sent.email.raw, to=sent.return_path, recipient="ada@example.org")
        process_message(sent.store, sent.config, raw, f"file {n}.eml")
    assert _status(sent).status != Status.BOUNCED  # two reports of one edition count once
    second = dataclasses.replace(EDITION, date=date(2026, 11, 25))
    later = dataclasses.replace(
        sent.email, message_id=sent.email.message_id.replace("2026-11-24", "2026-11-25")
    )
    with sent.store.sending(second, [r.paper for r in basic_ranked()], sender="t") as send:

        async def go() -> None:
            await send.ledger.claim(later.recipient, later.message_id, later.paper_ids)
            await send.ledger.finish(later.recipient, DeliveryStatus.SENT)

        asyncio.run(go())
    raw = dsn(sent.email.raw, to="nobody@example.org", recipient="ada@example.org")
    raw = raw.replace(sent.email.message_id.encode(), later.message_id.encode())
    report = process_message(sent.store, sent.config, raw, "by message-id")
    assert report.outcome == Outcome.RECORDED and report.event is not None
    assert report.event.edition == second.key  # found by the Message-ID alone
    assert _status(sent).status == Status.BOUNCED
    assert "readers: 1 bounced" in summary_lines([report])


def test_a_real_postfix_bounce_readdressed_to_our_return_path_is_ours(sent: Sent) -> None:
    raw = (BOUNCES / "lhost-postfix-04.eml").read_bytes()
    raw = b"Delivered-To: " + sent.return_path.encode() + b"\n" + raw
    report = process_message(sent.store, sent.config, raw, "postfix")
    assert report.outcome == Outcome.RECORDED and report.event is not None
    assert report.event.email == "ada@example.org" and report.event.status == "5.1.1"


def test_a_forged_token_changes_nothing(sent: Sent) -> None:
    forged = sent.return_path.replace("bounces+", "bounces+a", 1)
    raw = dsn(sent.email.raw, to=forged, recipient="ada@example.org")
    report = process_message(sent.store, sent.config, raw, "forged")
    assert report.outcome == Outcome.FORGED and "not valid" in report.reason
    assert report.processed and sent.store.mail_events() == ()
    other_secret = dataclasses.replace(sent.config, secret="x" * 40)
    raw = dsn(sent.email.raw, to=sent.return_path, recipient="ada@example.org")
    assert process_message(sent.store, other_secret, raw, "x").outcome == Outcome.FORGED


def test_a_report_about_a_message_we_never_sent_changes_nothing(sent: Sent) -> None:
    raw = (BOUNCES / "lhost-postfix-05.eml").read_bytes()
    report = process_message(sent.store, sent.config, raw, "stray")
    assert report.outcome == Outcome.UNKNOWN and "<FFFFFFFF.0000000@example.co.jp>" in report.reason
    assert sent.store.mail_events() == () and _status(sent).status == Status.CONFIRMED


def test_an_arf_complaint_makes_the_reader_complained(sent: Sent) -> None:
    raw = arf(sent.email.raw, to="fbl@example.org", recipient="ada@example.org")
    report = process_message(sent.store, sent.config, raw, "fbl")
    assert report.outcome == Outcome.RECORDED and report.event is not None
    assert report.event.kind == K.COMPLAINT  # matched by the VERP Return-Path it quotes
    assert _status(sent).status == Status.COMPLAINED


def test_a_mailto_unsubscribe_leaves_the_digest(sent: Sent) -> None:
    report = process_message(sent.store, sent.config, unsubscribe(to=sent.mailto), "mailto")
    assert report.outcome == Outcome.RECORDED and report.event is not None
    assert report.event.kind == K.UNSUBSCRIBE
    assert _status(sent).status == Status.UNSUBSCRIBED
    plain = process_message(sent.store, sent.config, unsubscribe(to="unsubscribe@example.org"), "x")
    assert plain.outcome == Outcome.UNCLASSIFIED and "by hand" in plain.reason  # left to read


def test_an_auto_reply_is_counted_and_changes_nothing(sent: Sent) -> None:
    raw = auto_reply(to=sent.return_path, in_reply_to=sent.email.message_id)
    report = process_message(sent.store, sent.config, raw, "vacation")
    assert report.outcome == Outcome.AUTO_REPLY and report.processed
    assert _status(sent) == sent.reader
    stray = auto_reply(to="papers@example.org", in_reply_to="<else@where>")
    assert process_message(sent.store, sent.config, stray, "x").outcome == Outcome.AUTO_REPLY


def test_an_unclassified_message_stays_and_says_why(sent: Sent) -> None:
    raw = (BOUNCES / "not-bounce-01.eml").read_bytes()
    report = process_message(sent.store, sent.config, raw, "x")
    assert report.outcome == Outcome.UNCLASSIFIED and not report.processed
    assert report.reason.startswith("not a bounce")


def test_soft_bounces_report_the_status(sent: Sent) -> None:
    raw = dsn(
        sent.email.raw,
        to=sent.return_path,
        recipient="ada@example.org",
        status="4.2.2",
        action="delayed",
        diagnostic="452 4.2.2 Mailbox full",
    )
    report = process_message(sent.store, sent.config, raw, "x")
    assert report.event is not None and report.event.kind == K.SOFT_BOUNCE
    assert report.event.status == "4.2.2"
    assert message_from_bytes(raw)["To"] == sent.return_path


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.sampled_from(_REAL), st.data())
def test_processing_any_scrambled_message_changes_nothing_it_cannot_name(
    sent: Sent, path: Path, data: st.DataObject
) -> None:
    raw = path.read_bytes()
    cut = data.draw(st.integers(0, len(raw)))
    to = data.draw(st.sampled_from(["", sent.return_path, "bounces+" + "a" * 39 + "@example.org"]))
    tagged = f"Delivered-To: {to}\n".encode() if to else b""
    report = process_message(sent.store, sent.config, tagged + raw[:cut], "fuzz")
    assert report.outcome in Outcome
    assert all(e.email == "ada@example.org" for e in sent.store.mail_events())
