-- The demo application's own SQL (SQLite): the payment table, the audit log, the risk events.
-- Named statements, loaded by infersight.demo._sqlfile.load("app_payments.sql").

-- name: create_tables
CREATE TABLE payments (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, amount_cents INTEGER,
    currency TEXT, merchant TEXT, status TEXT, created_at REAL, updated_at REAL);
CREATE TABLE audit (id INTEGER PRIMARY KEY, user_id INTEGER, decision TEXT, score REAL, at REAL);
CREATE TABLE demo_meta (key TEXT PRIMARY KEY, value TEXT);

-- name: create_indexes
CREATE INDEX payments_user ON payments(user_id);
CREATE INDEX payments_updated ON payments(updated_at);

-- name: read_meta
SELECT key, value FROM demo_meta;

-- name: write_meta
INSERT INTO demo_meta VALUES (?, ?);

-- name: insert_payment_row
INSERT INTO payments VALUES (?, ?, ?, ?, ?, ?, ?, ?);

-- name: insert_new_payment
INSERT INTO payments (user_id, amount_cents, currency, merchant, status, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?);

-- name: user_payments
SELECT id, user_id, amount_cents, currency, merchant, status, created_at, updated_at
FROM payments WHERE user_id = ? ORDER BY created_at DESC LIMIT 20;

-- name: all_payments
SELECT id, user_id, amount_cents, currency, merchant, status, created_at, updated_at FROM payments;

-- name: max_updated
SELECT coalesce(max(updated_at), 0) FROM payments;

-- name: changed_since
SELECT id, user_id, amount_cents, currency, merchant, status, created_at, updated_at
FROM payments WHERE updated_at > ? ORDER BY updated_at;

-- name: insert_audit
INSERT INTO audit (user_id, decision, score, at) VALUES (?, ?, ?, ?);

-- name: create_risk_events
CREATE TABLE risk_events (id INTEGER PRIMARY KEY, account INTEGER, severity REAL, kind TEXT);

-- name: insert_risk_event
INSERT INTO risk_events VALUES (?, ?, ?, ?);

-- name: index_risk_events
CREATE INDEX risk_account ON risk_events(account);

-- name: risk_score
SELECT count(*), coalesce(avg(severity), 0) FROM risk_events WHERE account = ?;

-- name: risk_score_unindexed
SELECT count(*), coalesce(avg(severity), 0) FROM risk_events NOT INDEXED WHERE account = ?;
