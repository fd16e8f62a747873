"""The PostgreSQL store's schema: numbered migrations, each run in its own transaction under
an advisory lock and recorded in ``digest_migrations`` once it ran (``digest store migrate``).

A name is never reused and a released migration is never edited: a change is a new one.
Every key a reader-facing operation looks up is a primary key or an index (O(log n)); keys
use the "C" collation so that their order is the code-point order TinyDB sorts by, and the
send blocks' key ranges mean the same on every server.
"""

from __future__ import annotations

from typing import Any

import psycopg

#: The table that records which migrations ran.
TABLE = "digest_migrations"
#: pg_advisory_xact_lock key taken by each migration's transaction (one migrator at a time).
MIGRATE_LOCK = 0x6469676573746D67  # "digestmg"

_SCHEMA = """
CREATE TABLE subscribers (
    key text COLLATE "C" PRIMARY KEY,       -- digest.subscribers.address_key(email)
    id text NOT NULL UNIQUE,
    email text NOT NULL,
    status text NOT NULL,
    hard_bounces integer NOT NULL DEFAULT 0,
    doc jsonb NOT NULL                      -- digest.store.documents.subscriber_doc
);
CREATE INDEX subscribers_status ON subscribers (status);

-- change_token(): bumped by any write that changes who may be mailed, once per transaction
-- (a batch of a million rows bumps it once), sharded by backend so that concurrent writers
-- do not queue on one row
CREATE TABLE change_counter (slot integer PRIMARY KEY, value bigint NOT NULL);
INSERT INTO change_counter SELECT s, 0 FROM generate_series(0, 15) s;
CREATE FUNCTION digest_bump_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('digest.bumped_in', true) IS DISTINCT FROM txid_current()::text THEN
        UPDATE change_counter SET value = value + 1 WHERE slot = pg_backend_pid() % 16;
        PERFORM set_config('digest.bumped_in', txid_current()::text, true);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER subscribers_added_or_removed AFTER INSERT OR DELETE OR TRUNCATE ON subscribers
    FOR EACH STATEMENT EXECUTE FUNCTION digest_bump_change();
CREATE TRIGGER subscribers_changed AFTER UPDATE ON subscribers FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          OR OLD.doc->'digests' IS DISTINCT FROM NEW.doc->'digests'
          OR OLD.doc->'paused' IS DISTINCT FROM NEW.doc->'paused')
    EXECUTE FUNCTION digest_bump_change();

CREATE TABLE papers (id text PRIMARY KEY, doc jsonb NOT NULL);

CREATE TABLE editions (
    key text PRIMARY KEY,
    digest text NOT NULL,
    date date NOT NULL,
    title text NOT NULL,
    paper_ids text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX editions_digest_date ON editions (digest, date DESC);
CREATE INDEX editions_papers ON editions USING gin (paper_ids);

CREATE TABLE deliveries (
    edition text NOT NULL,
    key text COLLATE "C" NOT NULL,
    email text NOT NULL,
    status text NOT NULL,
    message_id text NOT NULL DEFAULT '',
    reason text NOT NULL DEFAULT '',
    paper_ids text[] NOT NULL DEFAULT '{}',
    attempts integer NOT NULL DEFAULT 0,
    bounce boolean NOT NULL DEFAULT false,
    updated_at timestamptz,
    sender text NOT NULL DEFAULT '',
    owner bigint,                           -- the Send that claimed it (its advisory lock)
    PRIMARY KEY (edition, key)
);
CREATE INDEX deliveries_key ON deliveries (key);
CREATE INDEX deliveries_status ON deliveries (edition, status);
CREATE INDEX deliveries_shown ON deliveries USING gin (paper_ids);

CREATE TABLE runs (
    id bigserial PRIMARY KEY,
    digest text NOT NULL,
    round text NOT NULL DEFAULT '',
    sender text NOT NULL DEFAULT '',
    doc jsonb NOT NULL                      -- digest.store.migrations.run_doc
);
CREATE INDEX runs_digest ON runs (digest, id);

-- many senders: one round per send of an edition, its readers cut into key ranges
CREATE TABLE send_rounds (
    round uuid PRIMARY KEY,
    edition text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE UNIQUE INDEX send_rounds_open ON send_rounds (edition) WHERE finished_at IS NULL;
CREATE TABLE send_blocks (
    round uuid NOT NULL REFERENCES send_rounds ON DELETE CASCADE,
    n integer NOT NULL,
    lo_key text COLLATE "C" NOT NULL,       -- half-open [lo_key, hi_key)
    hi_key text COLLATE "C",                -- NULL: unbounded
    state text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'claimed', 'done')),
    owner bigint,
    PRIMARY KEY (round, n)
);

-- who holds exclusive(name), for holder()
CREATE TABLE lock_holders (
    name text PRIMARY KEY,
    host text NOT NULL,
    pid integer NOT NULL,
    since timestamptz NOT NULL DEFAULT now()
);

-- a Send is alive while its session holds the advisory lock on its owner id
CREATE FUNCTION digest_owner_alive(owner bigint) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND objsubid = 1
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND classid::bigint = (owner >> 32) AND objid::bigint = (owner & 4294967295))
$$;
"""

#: The owner lock is the sender's exclusive session lock; a shared lock on the same id is one
#: of its own writes asking whether it is still alive (pg_send._ALIVE), granted only once
#: it is dead, and held until that write's transaction ends. Counted as alive, it hid a dead
#: sender from a takeover for that moment, which could then end its run without its blocks.
_OWNER_EXCLUSIVE = """
CREATE OR REPLACE FUNCTION digest_owner_alive(owner bigint) RETURNS boolean LANGUAGE sql STABLE
AS $$
    SELECT EXISTS (
        SELECT 1 FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND mode = 'ExclusiveLock'
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND classid::bigint = (owner >> 32) AND objid::bigint = (owner & 4294967295))
$$;
"""

_MAIL_EVENTS = """
CREATE TABLE mail_events (
    event_id text PRIMARY KEY,              -- recording is idempotent by it
    kind text NOT NULL,
    email text NOT NULL,
    key text COLLATE "C" NOT NULL,          -- address_key(email)
    edition text NOT NULL,
    at timestamptz NOT NULL,
    source text NOT NULL DEFAULT '',
    diagnostic text NOT NULL DEFAULT '',
    status text NOT NULL DEFAULT ''
);
CREATE INDEX mail_events_reader ON mail_events (key, kind, edition);
CREATE INDEX mail_events_at ON mail_events (at, event_id);
CREATE INDEX mail_events_edition ON mail_events (edition);
-- a returned message names the delivery by its Message-ID (pg_events.NORMAL_MESSAGE_ID)
CREATE INDEX deliveries_message_id ON deliveries
    ((lower(btrim(regexp_replace(regexp_replace(btrim(message_id), '^<', ''), '>$', '')))));
"""

_RECEIVERS = """
-- who receives a digest (digest.subscribers.rules.receives) without reading each document:
-- what it looks at, as columns kept by the server, and an index that holds them all
CREATE FUNCTION digest_text_array(j jsonb) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN jsonb_typeof(j) = 'array'
        THEN ARRAY(SELECT jsonb_array_elements_text(j)) ELSE '{}'::text[] END
$$;
ALTER TABLE subscribers
    ADD COLUMN timezone text GENERATED ALWAYS AS (coalesce(doc->>'timezone', '')) STORED,
    ADD COLUMN paused boolean
        GENERATED ALWAYS AS (coalesce((doc->>'paused')::boolean, false)) STORED,
    ADD COLUMN cadence text GENERATED ALWAYS AS (coalesce(doc->>'cadence', 'daily')) STORED,
    ADD COLUMN digests text[] GENERATED ALWAYS AS (digest_text_array(doc->'digests')) STORED;
CREATE INDEX subscribers_receivers ON subscribers (timezone)
    INCLUDE (key, paused, cadence, digests) WHERE status = 'confirmed';
"""

#: In order; the SQL of each runs in one transaction.
MIGRATIONS: tuple[tuple[str, str], ...] = (
    ("001 the schema", _SCHEMA),
    ("002 mail events, and deliveries by Message-ID", _MAIL_EVENTS),
    ("003 subscribers' timezone, pause, cadence and digests as columns", _RECEIVERS),
    ("004 a sender is alive while it holds its owner lock exclusively", _OWNER_EXCLUSIVE),
)

LATEST = len(MIGRATIONS)

_RECORD = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    name text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


def apply(conn: psycopg.Connection[Any]) -> tuple[str, ...]:
    """Run the migrations not yet recorded, each in its own transaction; the names of those
    that ran now. Safe to run from several processes at once (they take turns)."""
    ran = []
    for name, sql in MIGRATIONS:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
            conn.execute(_RECORD)
            done = conn.execute(f"SELECT 1 FROM {TABLE} WHERE name = %s", (name,)).fetchone()
            if done is None:
                conn.execute(sql.encode())
                conn.execute(f"INSERT INTO {TABLE} (name) VALUES (%s)", (name,))
                ran.append(name)
    return tuple(ran)


def applied(conn: psycopg.Connection[Any]) -> tuple[str, ...] | None:
    """The migrations recorded as applied, oldest first; None when there is no schema."""
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (TABLE,)).fetchone()
    if not exists or not exists[0]:
        return None
    rows = conn.execute(f"SELECT name FROM {TABLE} ORDER BY name").fetchall()
    return tuple(str(r[0]) for r in rows)
