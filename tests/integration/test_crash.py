"""Crash safety: concurrent writers and readers, kill -9 at random moments,
of the worker, of the key keeper, or of both (the worker exits by itself
when the keeper dies).

After every restart: each acknowledged write is readable with its content
and version, each answered read has its audit line, and the chain verifies
end to end. VAULTD_CRASH_ROUNDS sets the number of kills (default 20)."""
import base64
import os
import random
import threading
import time

from conftest import Client, audit_lines

ROUNDS = int(os.environ.get("VAULTD_CRASH_ROUNDS", "20"))
WRITERS, READERS = 8, 4
COLL = "crash"


class Ledger:
    """What the vault promised: acknowledged writes and answered reads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}      # id -> (version, body)
        self.reads = []      # (id, version) answered ok
        self.errors = []     # unexpected replies seen by worker threads
        self.total_reads = 0
        # A keeper killed under load fails the calls waiting for it with
        # InternalError: not acknowledged, so nothing is lost.
        self.keeper_gone = threading.Event()

    def error(self, reply):
        if not (self.keeper_gone.is_set() and reply["error"].endswith(".InternalError")):
            self.errors.append(reply)

    def ack(self, rid, version, body):
        with self.lock:
            if rid not in self.acked or self.acked[rid][0] < version:
                self.acked[rid] = (version, body)

    def read(self, rid, version):
        with self.lock:
            self.reads.append((rid, version))

    def any_acked(self, rng):
        with self.lock:
            return rng.choice(list(self.acked)) if self.acked else None


def writer(sock, ledger, n, stop, rng):
    try:
        c = Client(sock, timeout=10)
        while not stop.is_set():
            rid = "W%d-%d" % (n, rng.randrange(20))
            body = os.urandom(rng.randrange(1, 2000))
            r = c.call("io.vaultd.records.Put", {"collection": COLL, "id": rid,
                                                 "data": base64.b64encode(body).decode()})
            if "error" in r:
                ledger.error(r)
                return
            ledger.ack(rid, r["parameters"]["version"], body)
    except (ConnectionError, OSError):
        pass


def reader(sock, ledger, stop, rng):
    try:
        c = Client(sock, timeout=10)
        while not stop.is_set():
            rid = ledger.any_acked(rng)
            if rid is None:
                time.sleep(0.005)
                continue
            r = c.call("io.vaultd.records.Get", {"collection": COLL, "id": rid})
            if "error" in r:
                ledger.error(r)
                return
            ledger.read(rid, r["parameters"]["version"])
    except (ConnectionError, OSError):
        pass


def check(vault, ledger, from_seq):
    c = Client(vault.sock)
    # Pipeline the checks: one Get per acknowledged record version.
    items = sorted(ledger.acked.items())
    for rid, (version, _) in items:
        c.send("io.vaultd.records.Get", {"collection": COLL, "id": rid, "version": version})
    for rid, (version, body) in items:
        r = c.recv()
        assert "error" not in r, (rid, version, r)
        assert base64.b64decode(r["parameters"]["data"]) == body, rid
    c.close()
    # This round's part of the trail: every read answered in it is there.
    exported = vault.export("--from", str(from_seq))
    seen = {(e["id"], e["version"]) for e in audit_lines(exported)
            if e["op"] == "records.get" and e["result"] == "ok"}
    missing = [r for r in ledger.reads if r not in seen]
    assert not missing, "answered reads without an audit line: %r" % missing[:5]
    ledger.total_reads += len(ledger.reads)
    ledger.reads = []
    path = os.path.join(vault.root, "crash-export.jsonl")
    with open(path, "wb") as f:
        f.write(exported)
    r = vault.ctl("audit", "verify", "--file", path)
    assert r.returncode == 0, r.stderr
    os.unlink(path)
    r = vault.ctl("audit", "verify")
    assert r.returncode == 0, r.stderr


def keeper_pid(vault):
    with open("/proc/%d/task/%d/children" % (vault.proc.pid, vault.proc.pid)) as f:
        pids = [int(p) for p in f.read().split()]
    assert len(pids) == 1, pids
    return pids[0]


def kill9(vault, victim):
    """Kills the worker, the keeper or both; waits for vaultd to be gone."""
    keeper = keeper_pid(vault)
    if victim in ("keeper", "both"):
        os.kill(keeper, 9)
    if victim in ("worker", "both"):
        vault.kill9()
        return
    rc = vault.proc.wait(timeout=20)  # the worker sees its keeper go, and exits
    assert rc != 0, rc
    vault.proc = None


def test_kill9_under_load(vault):
    rng = random.Random(int(os.environ.get("VAULTD_CRASH_SEED", "1")))
    ledger = Ledger()
    for round_ in range(ROUNDS):
        from_seq = vault.ctl("audit", "head", json_out=True).json["lines"]
        stop = threading.Event()
        threads = [threading.Thread(target=writer, args=(vault.sock, ledger, n, stop,
                                                          random.Random(rng.random())))
                   for n in range(WRITERS)]
        threads += [threading.Thread(target=reader, args=(vault.sock, ledger, stop,
                                                          random.Random(rng.random())))
                    for _ in range(READERS)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.05, 0.6))
        victim = ("worker", "keeper", "both")[round_ % 3]
        if victim != "worker":
            ledger.keeper_gone.set()
        kill9(vault, victim)
        stop.set()
        for t in threads:
            t.join(timeout=15)
            assert not t.is_alive()
        ledger.keeper_gone.clear()
        vault.start()
        check(vault, ledger, from_seq)
    assert not ledger.errors, ledger.errors[:3]
    assert len(ledger.acked) > WRITERS and ledger.total_reads > 0
    print("crash: %d rounds, %d records acknowledged, %d reads answered" % (
        ROUNDS, len(ledger.acked), ledger.total_reads))
