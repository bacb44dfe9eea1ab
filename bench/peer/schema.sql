-- The PostgreSQL peer of make bench (issue #12): what a careful team would
-- build for the same job with a general-purpose database. Record bodies are
-- encrypted by pgcrypto (OpenPGP symmetric, AES-256, under a key the
-- client passes with each call, as a service holding the key would), every
-- write appends an audit row in the same transaction, and the audit rows
-- form one SHA-256 hash chain: each row's hash = sha256(previous hash ||
-- row text), the first row's previous hash 32 zero bytes. A trigger keeps
-- the chain; it serialises appends on the one row of audit_head (FOR
-- UPDATE), so the chain is total even with many writers. Run with fsync
-- and synchronous_commit on (bench/peer.py sets them), each Put its own
-- transaction: a reply then means durable, as vaultd's does.
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE records (
    collection text NOT NULL,
    id text NOT NULL,
    version integer NOT NULL,
    time timestamptz NOT NULL DEFAULT clock_timestamp(),
    body bytea NOT NULL, -- pgp_sym_encrypt_bytea(plaintext, key)
    PRIMARY KEY (collection, id, version)
);

CREATE TABLE audit (
    seq bigint PRIMARY KEY,
    line text NOT NULL,
    prev bytea NOT NULL,
    hash bytea NOT NULL
);

CREATE TABLE audit_head (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    seq bigint NOT NULL,
    hash bytea NOT NULL
);
INSERT INTO audit_head VALUES (true, -1, '\x0000000000000000000000000000000000000000000000000000000000000000');

-- Chains each new audit row to the head and moves the head. The row lock on
-- audit_head is held to commit: one append at a time, in commit order.
CREATE FUNCTION audit_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head audit_head%ROWTYPE;
BEGIN
    SELECT * INTO head FROM audit_head WHERE one FOR UPDATE;
    NEW.seq := head.seq + 1;
    NEW.prev := head.hash;
    NEW.hash := sha256(head.hash || convert_to(NEW.line, 'UTF8'));
    UPDATE audit_head SET seq = NEW.seq, hash = NEW.hash WHERE one;
    RETURN NEW;
END $$;

CREATE TRIGGER audit_chain BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION audit_chain();

-- Every record write is audited by the database itself, in its transaction.
CREATE FUNCTION records_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit (line) VALUES (json_build_object(
        'time', to_char(NEW.time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'actor', json_build_object('user', session_user, 'pid', pg_backend_pid()),
        'op', 'records.put', 'collection', NEW.collection, 'id', NEW.id,
        'version', NEW.version, 'result', 'ok')::text);
    RETURN NULL;
END $$;

CREATE TRIGGER records_audit AFTER INSERT ON records FOR EACH ROW EXECUTE FUNCTION records_audit();

-- Put: a new version of a record (1 for a new one), its body encrypted.
-- data is base64, as on vaultd's wire.
CREATE FUNCTION put(p_collection text, p_id text, p_data text, p_key text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v integer;
BEGIN
    SELECT coalesce(max(version), 0) + 1 INTO v FROM records WHERE collection = p_collection AND id = p_id;
    INSERT INTO records (collection, id, version, body)
        VALUES (p_collection, p_id, v, pgp_sym_encrypt_bytea(decode(p_data, 'base64'), p_key, 'cipher-algo=aes256'));
    RETURN v;
END $$;

-- Verify the chain from the first row: the seq of the first bad row, or NULL.
CREATE FUNCTION audit_verify() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    r audit%ROWTYPE;
    h bytea := '\x0000000000000000000000000000000000000000000000000000000000000000';
BEGIN
    FOR r IN SELECT * FROM audit ORDER BY seq LOOP
        IF r.prev <> h OR r.hash <> sha256(h || convert_to(r.line, 'UTF8')) THEN
            RETURN r.seq;
        END IF;
        h := r.hash;
    END LOOP;
    RETURN NULL;
END $$;
