"""The lab's database: the playbook's schema, generated server-side, with its problems on purpose.

Tables: `users` (active ones are the load test's users), `permissions`, `user_permissions`,
`threats(status, priority)` and `security_events(created_at, severity_level, ...)` over two years
with skewed severities. The problems the loop later finds and fixes:

- no index serves the 30-day-by-severity filter of `/api/events` (a sequential scan per request;
  `user_id` has one, so the events statements are the database's top cost);
- `/api/users/{id}` looks permissions up one by one (N+1; see workbench/lab/api.py);
- stale statistics: `security_events` is analysed when a tenth of it is loaded and never again
  (autovacuum off for the table, never vacuumed: 90 % of its rows changed since the last analyze).

Everything is made by `generate_series` inside PostgreSQL (a few seconds for 400,000 events),
seeded with `setseed`, so two labs hold the same rows relative to their creation time.
"""

from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("info", "low", "medium", "high", "critical")


@dataclass(frozen=True)
class Size:
    """How much data a lab holds."""

    events: int
    users: int
    active_users: int
    threats: int = 2_000
    permissions: int = 60


FULL = Size(events=400_000, users=10_000, active_users=2_000)
SHORT = Size(events=250_000, users=5_000, active_users=2_000)

SCHEMA = """
CREATE TABLE users (
    id          integer PRIMARY KEY,
    email       text NOT NULL,
    name        text NOT NULL,
    org_id      integer NOT NULL,
    active      boolean NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE TABLE permissions (
    id               integer PRIMARY KEY,
    permission_name  text NOT NULL UNIQUE,
    description      text NOT NULL
);
CREATE TABLE user_permissions (
    user_id        integer NOT NULL REFERENCES users (id),
    permission_id  integer NOT NULL REFERENCES permissions (id),
    granted_at     timestamptz NOT NULL,
    PRIMARY KEY (user_id, permission_id)
);
CREATE TABLE threats (
    id           integer PRIMARY KEY,
    name         text NOT NULL,
    status       text NOT NULL,
    priority     integer NOT NULL,
    detected_at  timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE TABLE security_events (
    id              bigint PRIMARY KEY,
    created_at      timestamptz NOT NULL,
    severity_level  text NOT NULL,
    event_type      text NOT NULL,
    source_ip       inet NOT NULL,
    user_id         integer NOT NULL,
    threat_id       integer,
    message         text NOT NULL
) WITH (autovacuum_enabled = false);
"""

# Severity skew: info 55 %, low 25 %, medium 13 %, high 5.5 %, critical 1.5 %.
_SEVERITY = ("CASE WHEN r < 0.55 THEN 'info' WHEN r < 0.80 THEN 'low' WHEN r < 0.93 THEN 'medium' "
             "WHEN r < 0.985 THEN 'high' ELSE 'critical' END")

# An append-only event log: ids grow with created_at (two years up to now, a minute of jitter).
EVENTS = f"""
INSERT INTO security_events
SELECT g, now() - ((%(events)s - g) * (730 * 86400.0 / %(events)s) + random() * 60) * interval '1 second',
       {_SEVERITY},
       (ARRAY['login', 'file_access', 'network', 'malware', 'policy'])[1 + floor(random() * 5)::int],
       ('198.18.' || floor(random() * 2)::int || '.'
        || floor(random() * 256)::int)::inet,
       1 + floor(random() * %(users)s)::int,
       CASE WHEN random() < 0.2 THEN 1 + floor(random() * %(threats)s)::int END,
       md5(g::text) || ' ' || md5((g * 7)::text)
FROM (SELECT g, random() AS r FROM generate_series(1, %(events)s::bigint) AS g) AS s
WHERE (g %% 10 = 0) = %(first)s
"""

REST = [
    """INSERT INTO users
       SELECT g, 'user' || g || '@example.test', 'User ' || g, 1 + g %% 50, g <= %(active)s,
              now() - (random() * interval '900 days')
       FROM generate_series(1, %(users)s) AS g""",
    """INSERT INTO permissions
       SELECT g, 'perm_' || g, 'permission number ' || g FROM generate_series(1, %(permissions)s) AS g""",
    # 4..24 permissions per user (skewed towards few), distinct by construction
    """INSERT INTO user_permissions
       SELECT u, 1 + ((u * 7 + k * 13) %% %(permissions)s), now() - (random() * interval '400 days')
       FROM generate_series(1, %(users)s) AS u,
            LATERAL generate_series(1, 4 + floor(power(random(), 2) * 20)::int) AS k
       ON CONFLICT DO NOTHING""",
    """INSERT INTO threats
       SELECT g, 'threat ' || g,
              CASE WHEN random() < 0.15 THEN 'active' WHEN random() < 0.5 THEN 'investigating' ELSE 'resolved' END,
              1 + floor(random() * 5)::int, now() - (random() * interval '365 days'), now()
       FROM generate_series(1, %(threats)s) AS g""",
]


def populate(con, size: Size, seed: float = 0.42) -> None:
    """Create the schema and its rows on CON (a psycopg connection, autocommit off); commits."""
    params = {"users": size.users, "active": size.active_users, "permissions": size.permissions,
              "threats": size.threats}
    con.execute("SELECT setseed(%s)", [seed])
    con.execute(SCHEMA)
    for statement in REST:
        con.execute(statement, params)
    con.execute(EVENTS, {**params, "events": size.events, "first": True})
    con.commit()
    con.execute("ANALYZE")       # statistics of every tenth event ...
    con.execute(EVENTS, {**params, "events": size.events, "first": False})
    # the user's events are indexed (alerts); the 30-day-by-severity filter is not
    con.execute("CREATE INDEX security_events_user_id ON security_events (user_id)")
    con.commit()                 # ... and nine tenths more that they never see: stale statistics
