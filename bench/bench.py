#!/usr/bin/python3
"""make bench: what a real vaultd does on this machine, next to the
PostgreSQL peer, in one run (issue #12).

A throwaway vault in a temporary directory, started as in production
(sandbox on, full durability, as root dropped to nobody), driven by
build/vaultd-bench (bench/bench.c: one connection per client, 1 KiB
bodies). Measured:

  Put, Get at 1, 16, 64 clients, each waiting for its reply; GetInfo (the
  round trip without storage); a 90/10 Get/Put mix; one connection
  pipelining 64 Puts; vaultctl import of JSON Lines records;
  a tenant's small Gets while another tenant streams 16 MiB Gets, 32 in
  flight, and the daemon's peak RSS meanwhile;
  online Verify, Export, and offline vaultctl audit verify --file, in lines/s;
  a big store (--big records, 3 audit lines each) filled through the
  daemon: start-up time to READY, RSS, store size per record, Put/Get;
  PostgreSQL 15 with bench/peer/schema.sql, driven by pgbench (bench/peer.py).

vaultd's CPU per call is read from /proc (utime + stime of the worker and
its keeper) over each run. Prints one table and writes bench/results.json
(--quick: build/bench-results-quick.json)."""
import argparse
import base64
import datetime
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer as pgpeer  # noqa: E402
import procstat  # noqa: E402
from vault import Client, Vault, VaultError  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BODY = 1024
STREAM_BODY = 16 << 20
STREAM_DEPTH = 32
# Tenants of the 16 MiB phase, when run as root: two uids that are nobody's
# (numeric, so no account is needed), each its own service.
STREAM_UID, SMALL_UID = 64001, 64002
# No run of the load generator may take longer: a daemon that stops
# answering fails its phase instead of hanging the bench.
RUN_TIMEOUT = 900

SCALES = {
    # seconds per measured run, records the small store starts with,
    # records imported, seconds of 16 MiB streaming, big store records,
    # seconds of the PostgreSQL run, pairs of runs with and without the tree
    "full": dict(seconds=8, ids=10000, imports=100000, stream=10, big=300000, peer=10, tree_pairs=5),
    "quick": dict(seconds=1, ids=2000, imports=10000, stream=2, big=10000, peer=2, tree_pairs=3),
}

# Issue #12's targets, checked against this run's figures: (what, run or
# figure name, field, comparison, bound).
TARGETS = [
    ("Put 16 clients >= 12,000/s", "put16", "per_second", ">=", 12000),
    ("Put 16 clients p99 <= 5 ms", "put16", "p99_us", "<=", 5000),
    ("Put 16 clients >= 10x PostgreSQL", "ratio", "value", ">=", 10),
    ("Put 64 clients >= 20,000/s", "put64", "per_second", ">=", 20000),
    ("one connection, 64 Puts pipelined >= 40,000/s", "pipeline", "per_second", ">=", 40000),
    ("vaultctl import >= 40,000 records/s", "import", "per_second", ">=", 40000),
    ("Get 16 clients >= 12,000/s", "get16", "per_second", ">=", 12000),
    ("Get 64 clients >= 20,000/s", "get64", "per_second", ">=", 20000),
    ("mixed 90/10 16 clients >= 12,000/s", "mixed16", "per_second", ">=", 12000),
    ("vaultd CPU per Put (16) <= 40 us", "put16", "cpu_us_per_req", "<=", 40),
    ("vaultd CPU per Get (16) <= 40 us", "get16", "cpu_us_per_req", "<=", 40),
    ("small Get p99 <= 50 ms during 16 MiB streams", "stream_small", "p99_us", "<=", 50000),
    ("daemon RSS <= 512 MiB during 16 MiB streams", "stream_rss", "value", "<=", 512 << 20),
    ("online Verify >= 500,000 lines/s", "verify", "per_second", ">=", 500000),
    ("Export >= 500,000 lines/s", "export", "per_second", ">=", 500000),
    ("offline audit verify --file >= 500,000 lines/s", "offline_verify", "per_second", ">=", 500000),
    ("big store: start-up to READY < 1 s", "big_startup", "value", "<", 1.0),
    ("big store: RSS excluding the map < 64 MiB", "big_rss", "value", "<", 64 << 20),
    ("big store: Put 16 within 20 % of the small store", "big_put_ratio", "value", ">=", 0.8),
    ("big store: Get 16 within 20 % of the small store", "big_get_ratio", "value", ">=", 0.8),
    ("Merkle tree costs < 10 % of Put 16 throughput (issue #14)", "tree_cost", "value", "<", 0.10),
]


class Bench:
    def __init__(self, args):
        self.build = os.path.abspath(args.build)
        self.scale = dict(SCALES["quick" if args.quick else "full"])
        if args.big:
            self.scale["big"] = args.big
        self.scale["big"] = -(-self.scale["big"] // 4) * 4  # 4 filling clients, ids in turn
        self.quick = args.quick
        self.tmp = tempfile.mkdtemp(prefix="vaultd-bench-")
        os.chmod(self.tmp, 0o755)
        # The tenants' uids must be able to run the load generator.
        self.loadgen = os.path.join(self.tmp, "vaultd-bench")
        shutil.copy(os.path.join(self.build, "vaultd-bench"), self.loadgen)
        os.chmod(self.loadgen, 0o755)
        self.vaultctl = os.path.join(self.build, "vaultctl")
        self.runs = {}  # name -> figures
        self.order = []
        self.figures = {}
        self.errors = []
        self.root = os.geteuid() == 0

    # -- running loads -------------------------------------------------

    def loadgen_cmd(self, vault, op, clients=1, depth=1, body=BODY, seconds=None, requests=None, ids=None,
                    random=False, collection="bench", prefix="R-", output=None):
        cmd = [self.loadgen, "--socket", vault.sock, "--op", op, "--clients", str(clients), "--depth", str(depth),
               "--body", str(body), "--collection", collection, "--prefix", prefix,
               "--ids", str(ids or self.scale["ids"])]
        cmd += ["--seconds", str(seconds)] if seconds else ["--requests", str(requests)] if requests else []
        cmd += ["--random"] if random else []
        cmd += ["--output", output] if output else []
        return cmd

    @staticmethod
    def loadgen_result(proc, out, what):
        try:
            r = json.loads(out)
        except ValueError:
            raise VaultError("vaultd-bench (%s) printed no result (exit %d)" % (what, proc.returncode))
        if proc.returncode != 0 or r["failed"] or r["broken"]:
            raise VaultError("vaultd-bench (%s): %d calls failed, connection broken: %s; first error: %s" % (
                what, r["failed"], r["broken"], r["error"]))
        return r

    def measure(self, vault, fn):
        """Runs fn() and adds vaultd's CPU, context switches and batches
        over it to the dict fn returns."""
        st0, cpu0, cs0 = vault.status(), procstat.cpu_seconds(vault.pid), procstat.context_switches(vault.pid)
        r = fn()
        cpu, cs = procstat.cpu_seconds(vault.pid) - cpu0, procstat.context_switches(vault.pid) - cs0
        st1 = vault.status()
        n = r["requests"] or 1
        batches = st1["batches"] - st0["batches"]
        r.update(daemon_cpu_seconds=round(cpu, 3), cpu_us_per_req=round(1e6 * cpu / n, 1),
                 ctxsw_per_req=round(cs / n, 2), batches=batches,
                 requests_per_batch=round((st1["requests"] - st0["requests"]) / batches, 2) if batches else None)
        return r

    def load(self, vault, name, label, op, uid=None, **kw):
        def go():
            p = subprocess.run(self.loadgen_cmd(vault, op, **kw), capture_output=True, text=True,
                               timeout=RUN_TIMEOUT, **self.as_user(uid))
            return self.loadgen_result(p, p.stdout, label)
        r = self.measure(vault, go)
        if op == "get":
            r["body_bytes"] = BODY  # what the records read were written with
        self.record(name, label, r)
        return r

    def as_user(self, uid):
        return dict(user=uid, group=uid, extra_groups=[]) if uid is not None and self.root else {}

    def record(self, name, label, r):
        r["label"] = label
        self.runs[name] = r
        self.order.append(name)
        self.row(r)

    # -- phases --------------------------------------------------------

    def small_store(self):
        policy = ("allow user %d role service,auditor,admin collections *\n" % os.getuid()
                  + ("allow user %d role service collections stream\n" % STREAM_UID
                     + "allow user %d role service collections bench\n" % SMALL_UID if self.root else ""))
        # Connections per uid are limited (64 by default); 64 clients plus
        # the harness's Status calls need a little more.
        v = Vault(self.build, os.path.join(self.tmp, "small"), policy, ["--max-connections-per-user", "256"])
        self.figures["startup_empty_seconds"] = round(v.start(), 3)
        self.figures["sandbox"] = v.status().get("sandbox")
        s = self.scale["seconds"]
        try:
            self.phase("fill", lambda: self.load(v, "fill_small", "fill (4 conns x 32 in flight)", "put",
                                                 clients=4, depth=32, requests=self.scale["ids"] // 4))
            for clients in (16, 64):
                self.phase("getinfo%d" % clients, lambda: self.load(
                    v, "getinfo%d" % clients, "GetInfo (no storage)", "getinfo", clients=clients, seconds=s))
            for op in ("put", "get"):
                for clients in (1, 16, 64):
                    self.phase("%s%d" % (op, clients), lambda: self.load(
                        v, "%s%d" % (op, clients), op.capitalize(), op, clients=clients, seconds=s))
            self.phase("mixed16", lambda: self.load(v, "mixed16", "90/10 Get/Put", "mixed", clients=16,
                                                    seconds=s))
            self.phase("pipeline", lambda: self.load(v, "pipeline", "Put, 1 conn pipelining", "put", clients=1,
                                                     depth=64, seconds=s))
            self.phase("import", lambda: self.import_records(v))
            self.phase("stream", lambda: self.stream(v))
            self.phase("verify", lambda: self.verify(v))
        finally:
            v.stop()
            self.figures["small_store_bytes"] = os.path.getsize(v.store)
            shutil.rmtree(v.dir, ignore_errors=True)

    def import_records(self, v):
        n = self.scale["imports"]
        path = os.path.join(self.tmp, "import.jsonl")
        note = base64.b64encode(os.urandom(730)).decode()  # a record of about 1 KiB as compact JSON
        with open(path, "w") as f:
            for i in range(n):
                f.write('{"id":"I-%d","record":{"name":"Nguyen Van %d","category":"bao-tro-xa-hoi",'
                        '"allowance":%d,"note":"%s"}}\n' % (i, i, 500000 + i, note))
        record_bytes = len('{"name":"Nguyen Van 0","category":"bao-tro-xa-hoi","allowance":500000,"note":""}') \
            + len(note)

        def go():
            t0 = time.monotonic()
            p = subprocess.run([self.vaultctl, "--socket", v.sock, "--json", "import", "imp", path],
                               capture_output=True, text=True, timeout=RUN_TIMEOUT)
            elapsed = time.monotonic() - t0
            if p.returncode != 0:
                raise VaultError("vaultctl import failed (%d): %s" % (p.returncode, (p.stdout + p.stderr)[-500:]))
            out = json.loads(p.stdout)
            if out["stored"] != n:
                raise VaultError("vaultctl import stored %d of %d" % (out["stored"], n))
            return dict(op="import", clients=1, depth=64, body_bytes=record_bytes, requests=n,
                        seconds=round(elapsed, 3), per_second=n / elapsed, p50_us=None, p99_us=None)
        self.record("import", "vaultctl import", self.measure(v, go))
        os.unlink(path)

    def stream(self, v):
        """One tenant streams 16 MiB Gets, 32 in flight, while another
        makes small Gets one at a time; the daemon's RSS is sampled."""
        s = self.scale["stream"]
        put = subprocess.run(self.loadgen_cmd(v, "put", body=STREAM_BODY, requests=1, ids=1, collection="stream",
                                              prefix="S-"), capture_output=True, text=True,
                             timeout=RUN_TIMEOUT, **self.as_user(STREAM_UID))
        self.loadgen_result(put, put.stdout, "the 16 MiB Put")
        procstat.reset_peak(v.pid)
        peak = {"rss": 0, "anon": 0}
        done = threading.Event()

        def sample():
            while not done.is_set():
                try:
                    m = [procstat.memory(p) for p in procstat.family(v.pid)]
                except OSError:
                    m = []
                peak["rss"] = max(peak["rss"], sum(x["rss"] for x in m))
                peak["anon"] = max(peak["anon"], sum(x["anon"] for x in m))
                done.wait(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        cpu0 = procstat.cpu_seconds(v.pid)
        sampler.start()
        streamer = subprocess.Popen(self.loadgen_cmd(v, "get", depth=STREAM_DEPTH, seconds=s + 1, ids=1,
                                                     collection="stream", prefix="S-"),
                                    stdout=subprocess.PIPE, text=True, **self.as_user(STREAM_UID))
        time.sleep(0.5)  # the streams are under way before the small Gets start
        try:
            small = subprocess.run(self.loadgen_cmd(v, "get", seconds=s), capture_output=True, text=True,
                                   timeout=RUN_TIMEOUT, **self.as_user(SMALL_UID))
            big_out = streamer.communicate(timeout=RUN_TIMEOUT)[0]
        finally:
            if streamer.poll() is None:
                streamer.kill()
                streamer.wait()
            done.set()
        sampler.join()
        cpu = procstat.cpu_seconds(v.pid) - cpu0
        hwm = sum(procstat.memory(p)["peak"] for p in procstat.family(v.pid))
        small_r = self.loadgen_result(small, small.stdout, "small Gets during 16 MiB streams")
        big_r = self.loadgen_result(streamer, big_out, "16 MiB streams")
        big_r["mib_per_second"] = round(big_r["per_second"] * STREAM_BODY / 2**20, 1)
        for r in (small_r, big_r):
            r["cpu_us_per_req"] = None
        big_r["daemon_cpu_seconds"] = round(cpu, 3)
        big_r["body_bytes"], small_r["body_bytes"] = STREAM_BODY, BODY
        self.record("stream_big", "Get 16 MiB (tenant A)", big_r)
        self.record("stream_small", "Get while A streams (B)", small_r)
        rss = max(peak["rss"], hwm)
        self.figures["stream_rss"] = {"value": rss, "sampled_peak_rss": peak["rss"], "vmhwm_sum": hwm,
                                      "sampled_peak_anon": peak["anon"], "tenants_distinct_uids": self.root}

    def verify(self, v):
        head = v.call_ok("io.vaultd.audit.Head")

        def online():
            c = Client(v.sock, timeout=3600)
            t0 = time.monotonic()
            r = c.call("io.vaultd.audit.Verify")
            elapsed = time.monotonic() - t0
            c.close()
            if "error" in r:
                raise VaultError("Verify: %s" % json.dumps(r)[:500])
            p = r["parameters"]
            return dict(op="verify", clients=1, depth=1, body_bytes=0, requests=p["lines"], seconds=round(elapsed, 3),
                        per_second=p["lines"] / elapsed, p50_us=None, p99_us=None, records=p["records"],
                        versions=p["versions"])
        self.record("verify", "online Verify (lines)", self.measure(v, online))
        export = os.path.join(self.tmp, "export.jsonl")

        def stream_export():
            p = subprocess.run(self.loadgen_cmd(v, "export", output=export), capture_output=True, text=True,
                               timeout=RUN_TIMEOUT)
            r = self.loadgen_result(p, p.stdout, "Export")
            r["requests"] = r["lines"]
            r["per_second"] = r["lines"] / r["seconds"]
            r["p50_us"] = r["p99_us"] = None
            return r
        self.record("export", "Export (lines)", self.measure(v, stream_export))
        with open(export) as f:
            audit_lines = sum(1 for line in f if line.startswith('{"seq"'))
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        p = subprocess.run([self.vaultctl, "audit", "verify", "--file", export, "--key", head["verifier_key"]],
                           capture_output=True, text=True, timeout=RUN_TIMEOUT)
        elapsed = time.monotonic() - t0
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if p.returncode != 0:
            raise VaultError("vaultctl audit verify --file failed (%d): %s"
                             % (p.returncode, (p.stdout + p.stderr)[-500:]))
        cpu = ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime
        self.record("offline_verify", "audit verify --file (lines)", dict(
            op="verify-file", clients=1, depth=1, body_bytes=0, requests=audit_lines, seconds=round(elapsed, 3),
            per_second=audit_lines / elapsed, p50_us=None, p99_us=None,
            cpu_us_per_req=round(1e6 * cpu / audit_lines, 2), cpu_is="vaultctl's"))
        os.unlink(export)

    def big_store(self):
        n = self.scale["big"]
        policy = "allow user %d role service,auditor,admin collections *\n" % os.getuid()
        v = Vault(self.build, os.path.join(self.tmp, "big"), policy, ["--max-connections-per-user", "256"])
        v.start()
        try:
            t0 = time.monotonic()
            self.phase("big_fill_put", lambda: self.load(
                v, "big_fill_put", "big: fill Puts (4 x 32)", "put", clients=4, depth=32, requests=n // 4, ids=n))
            self.phase("big_fill_get", lambda: self.load(
                v, "big_fill_get", "big: fill Gets (4 x 32)", "get", clients=4, depth=32, requests=n // 2, ids=n))
            self.figures["big_fill_seconds"] = round(time.monotonic() - t0, 1)
            v.stop()
            ready = v.start()
            mem = v.memory()
            st = v.status()
            self.figures["big_startup"] = {"value": round(ready, 3), "records": st["records"],
                                           "audit_lines": st["audit_lines"]}
            self.figures["big_rss"] = {"value": sum(m["rss_excluding"] for m in mem.values()), "at": "READY",
                                       "memory": mem}
            self.figures["big_store"] = {
                "records": st["records"], "audit_lines": st["audit_lines"], "store_bytes": st["store_bytes"],
                "map_used_bytes": st["map_used_bytes"],
                "bytes_per_record": round(st["store_bytes"] / max(1, st["records"])),
                "used_bytes_per_record": round(st["map_used_bytes"] / max(1, st["records"]))}
            s = self.scale["seconds"]
            self.phase("big_put16", lambda: self.load(v, "big_put16", "big: Put", "put", clients=16, seconds=s,
                                                      ids=n, random=True))
            self.phase("big_get16", lambda: self.load(v, "big_get16", "big: Get", "get", clients=16, seconds=s,
                                                      ids=n))
            self.figures["big_rss_after_load"] = v.memory()
        finally:
            v.stop()
            shutil.rmtree(v.dir, ignore_errors=True)
        for op in ("put", "get"):
            small, big = self.runs.get("%s16" % op), self.runs.get("big_%s16" % op)
            if small and big:
                self.figures["big_%s_ratio" % op] = {"value": round(big["per_second"] / small["per_second"], 3)}

    def tree_cost(self):
        """Put at 16 clients on this build and on the bench-only build
        without the Merkle tree's writes (build/bench-notree), in turns,
        pair by pair: what the tree costs a Put (issue #14)."""
        notree = os.path.join(self.build, "bench-notree")
        policy = "allow user %d role service,auditor,admin collections *\n" % os.getuid()
        vaults = [Vault(b, os.path.join(self.tmp, name), policy, ["--max-connections-per-user", "256"])
                  for b, name in ((self.build, "tree"), (notree, "notree"))]
        ratios, best = [], {}
        try:
            for v in vaults:
                v.start()
            for i in range(self.scale["tree_pairs"]):
                got = []
                for v, name in zip(vaults, ("tree", "notree")):
                    def go(v=v):
                        p = subprocess.run(self.loadgen_cmd(v, "put", clients=16, seconds=self.scale["seconds"] / 2),
                                           capture_output=True, text=True, timeout=RUN_TIMEOUT)
                        return self.loadgen_result(p, p.stdout, "tree cost")
                    r = self.measure(v, go)
                    got.append(r["per_second"])
                    best.setdefault(name, []).append(r)
                ratios.append(got[0] / got[1])
        finally:
            for v in vaults:
                v.stop()
                shutil.rmtree(v.dir, ignore_errors=True)
        for name, label in (("tree", "Put, with the tree (pairs)"), ("notree", "Put, no tree (bench build)")):
            runs = sorted(best[name], key=lambda r: r["per_second"])
            self.record("tree_" + name, label, runs[len(runs) // 2])
        ratios.sort()
        median = ratios[len(ratios) // 2]
        self.figures["tree_cost"] = {"value": round(1 - median, 3), "ratios": [round(x, 3) for x in ratios]}

    def peer(self):
        p = pgpeer.Peer(os.path.join(self.tmp, "postgres"))
        try:
            self.figures["peer_server"] = p.start()
            r = p.put(16, self.scale["peer"], BODY)
            verdict, rows = p.verify_chain()
            if verdict != "ok" or rows < r["requests"]:
                raise pgpeer.PeerError("the peer's audit chain does not verify: %s (%d rows)" % (verdict, rows))
            r["audit_rows_verified"] = rows
            self.record("peer_put16", "PostgreSQL peer: Put", r)
            if "put16" in self.runs:
                self.figures["ratio"] = {"value": round(self.runs["put16"]["per_second"] / r["per_second"], 2)}
        finally:
            p.remove()

    def phase(self, name, fn):
        t0 = time.monotonic()
        try:
            fn()
        except (VaultError, pgpeer.PeerError, OSError, ValueError, KeyError, subprocess.SubprocessError) as e:
            self.errors.append({"phase": name, "error": str(e)})
            print("bench: %s failed: %s" % (name, e), file=sys.stderr, flush=True)
        self.figures.setdefault("phase_seconds", {})[name] = round(time.monotonic() - t0, 1)

    # -- output --------------------------------------------------------

    HEADER = "%-30s %7s %5s %8s %9s %11s %9s %9s %8s" % ("op", "clients", "depth", "body", "requests",
                                                          "per second", "p50 ms", "p99 ms", "CPU us")

    @staticmethod
    def row(r):
        def ms(v):
            return "%9.2f" % (v / 1000) if v is not None else "%9s" % "-"
        cpu = r.get("cpu_us_per_req")
        body = r.get("body_bytes") or 0
        print("%-30s %7d %5d %8s %9d %11.0f %s %s %8s" % (
            r["label"][:30], r["clients"], r["depth"], ("%dM" % (body >> 20)) if body >= 1 << 20 else body,
            r["requests"], r["per_second"], ms(r.get("p50_us")), ms(r.get("p99_us")),
            "%.1f" % cpu if cpu is not None else "-"), flush=True)

    def value(self, name, field):
        src = self.runs.get(name) or self.figures.get(name)
        return src.get(field) if isinstance(src, dict) else None

    def targets(self):
        out = []
        for what, name, field, cmp, bound in TARGETS:
            v = self.value(name, field)
            met = None if v is None else {">=": v >= bound, "<=": v <= bound, "<": v < bound}[cmp]
            out.append({"target": what, "value": v, "bound": bound, "met": met})
        return out

    def summary(self):
        f = self.figures
        print()
        if "big_startup" in f:
            b = f["big_store"]
            mem = f["big_rss"]["memory"]
            print("big store: %d records, %d audit lines, filled through vaultd in %.0f s" % (
                b["records"], b["audit_lines"], f.get("big_fill_seconds", 0)))
            print("  start-up to READY %.3f s; RSS at READY: worker %.1f MiB (%.1f MiB without the map), "
                  "keeper %.1f MiB" % (f["big_startup"]["value"], mem["worker"]["rss"] / 2**20,
                                       mem["worker"]["rss_excluding"] / 2**20,
                                       mem.get("keeper", {}).get("rss", 0) / 2**20))
            print("  store %.1f MiB: %d bytes per record (%d in use), audit lines included" % (
                b["store_bytes"] / 2**20, b["bytes_per_record"], b["used_bytes_per_record"]))
        if "stream_rss" in f:
            print("16 MiB streams: daemon RSS peak %.0f MiB (anon %.0f MiB)%s" % (
                f["stream_rss"]["value"] / 2**20, f["stream_rss"]["sampled_peak_anon"] / 2**20,
                "" if self.root else "; both tenants ran as one uid (not root)"))
        if "tree_cost" in f:
            print("Merkle tree's cost to Put at 16 clients: %.1f %% (with / without its writes, pair by pair: %s)" % (
                100 * f["tree_cost"]["value"], ", ".join("%.3f" % x for x in f["tree_cost"]["ratios"])))
        if "ratio" in f:
            print("vaultd / PostgreSQL peer, Put at 16 clients: %.2fx (%s)" % (f["ratio"]["value"],
                                                                               f.get("peer_server", "")))
        print("\ntargets of issue #12:")
        for t in self.targets():
            mark = "n/a " if t["met"] is None else "met " if t["met"] else "MISS"
            print("  %s %s (%s)" % (mark, t["target"], "no figure" if t["value"] is None else
                                    "%.3g" % t["value"] if isinstance(t["value"], float) else t["value"]))

    def machine(self):
        def first(path, key):
            try:
                with open(path) as f:
                    for line in f:
                        if line.startswith(key):
                            return line.split(":", 1)[1].strip()
            except OSError:
                pass
            return None
        fs = subprocess.run(["stat", "-f", "-c", "%T", self.tmp], capture_output=True, text=True).stdout.strip()
        commit = subprocess.run(["git", "-C", HERE, "describe", "--always", "--dirty"], capture_output=True,
                                text=True).stdout.strip()
        return {"nproc": os.cpu_count(), "kernel": platform.release(), "cpu": first("/proc/cpuinfo", "model name"),
                "memory": first("/proc/meminfo", "MemTotal"), "filesystem": fs, "tmpdir": self.tmp,
                "commit": commit, "root": self.root, "loadavg_start": os.getloadavg(),
                "pressure_start": pressure()}


def pressure():
    """The kernel's CPU and I/O pressure (PSI): other load on the machine
    while the bench ran, which its figures do not show."""
    out = {}
    for what in ("cpu", "io"):
        try:
            with open("/proc/pressure/" + what) as f:
                out[what] = f.readline().strip()
        except OSError:
            pass
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--quick", action="store_true", help="a smoke run of about a minute")
    ap.add_argument("--big", type=int, default=0, help="records of the big store (3 audit lines each)")
    ap.add_argument("--results", help="where to write the JSON (default bench/results.json, "
                    "with --quick BUILD/bench-results-quick.json)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    b = Bench(args)
    results = args.results or (os.path.join(b.build, "bench-results-quick.json") if args.quick
                               else os.path.join(HERE, "results.json"))
    t0 = time.monotonic()
    machine = b.machine()
    print("vaultd bench (%s): %d CPUs, kernel %s, store on %s (%s); big store %d records" % (
        "quick" if args.quick else "full", machine["nproc"], machine["kernel"], b.tmp, machine["filesystem"],
        b.scale["big"]), flush=True)
    print(Bench.HEADER, flush=True)
    try:
        b.phase("small store", b.small_store)
        b.phase("big store", b.big_store)
        b.phase("tree cost", b.tree_cost)
        b.phase("peer", b.peer)
    finally:
        if not args.keep:
            shutil.rmtree(b.tmp, ignore_errors=True)
    b.summary()
    machine["loadavg_end"] = os.getloadavg()
    machine["pressure_end"] = pressure()
    doc = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "scale": dict(b.scale, mode="quick" if args.quick else "full"), "machine": machine,
           "runs": {name: b.runs[name] for name in b.order}, "figures": b.figures, "targets": b.targets(),
           "errors": b.errors, "seconds": round(time.monotonic() - t0, 1)}
    os.makedirs(os.path.dirname(os.path.abspath(results)), exist_ok=True)
    with open(results, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=False)
        f.write("\n")
    print("\n%s written; %.0f s in all%s" % (results, doc["seconds"],
                                            "; %d phases FAILED" % len(b.errors) if b.errors else ""))
    if b.errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
