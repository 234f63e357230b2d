-- Herald, SQLite: what the Mercure hub keeps beside the event log.
-- Idempotent. Run as one transaction.

BEGIN IMMEDIATE;

-- Each Mercure update's id, as its publisher gave it (or Herald made it),
-- reserved in the transaction that appends the update: an id is used once
-- across every instance, and a resume by id finds the update's place in the
-- log. `fingerprint` tells a publisher's retry of the same update (answered
-- with its id again) from another update reusing the id (refused). Rows go
-- once their event is pruned.
CREATE TABLE IF NOT EXISTS mercure_ids (
    mercure_id text PRIMARY KEY,
    fingerprint text NOT NULL,
    event_id bigint NULL,
    created_at text NOT NULL
);

-- Who is subscribed to what (the subscriptions API): one row per selector
-- of each open Mercure stream, written with its subscription event by the
-- instance holding the stream, which keeps a lease in mercure_instances.
-- An instance whose lease ran out (it died) has its rows removed, with
-- their events, by another.
CREATE TABLE IF NOT EXISTS mercure_instances (
    instance_id text PRIMARY KEY,
    lease_until text NOT NULL
);
CREATE TABLE IF NOT EXISTS mercure_subscriptions (
    id text PRIMARY KEY,
    subscriber text NOT NULL,
    topic text NOT NULL,
    payload text NULL,
    instance_id text NOT NULL
);
CREATE INDEX IF NOT EXISTS mercure_subscriptions_instance ON mercure_subscriptions (instance_id);

COMMIT;
