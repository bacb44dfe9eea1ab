#!/usr/bin/python3
"""make demo: a throwaway vault under ./demo/, driven end to end by vaultctl.

Creates the vault, starts vaultd on ./demo/vaultd.sock, stores 1,000
synthetic beneficiary dossiers, reads, updates and deletes some, shows a
history, exports the audit trail and verifies it, prints a summary and stops
the daemon. All data is invented (scripts/synthdata.py).
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import synthdata  # noqa: E402

DEMO = os.path.abspath("demo")


def step(text):
    print("\n== " + text, flush=True)


class Demo:
    def __init__(self, build):
        self.vaultd = os.path.join(build, "vaultd")
        self.vaultctl = os.path.join(build, "vaultctl")
        self.sock = os.path.join(DEMO, "vaultd.sock")
        self.proc = None

    def ctl(self, *args, input=None, show=True):
        cmd = [self.vaultctl, "--socket", self.sock] + list(args)
        if show:
            print("$ vaultctl " + " ".join(args), flush=True)
        r = subprocess.run(cmd, input=input, capture_output=True)
        if r.returncode != 0:
            sys.stderr.write(r.stderr.decode())
            raise SystemExit("demo: 'vaultctl %s' failed" % " ".join(args))
        return r.stdout.decode()

    def vaultd_run(self, *args):
        """A one-shot vaultd command (--generate-key, --init), shown as typed."""
        print("$ vaultd " + " ".join(args), flush=True)
        user = ["--user", "nobody"] if os.geteuid() == 0 else []
        r = subprocess.run([self.vaultd] + list(args) + user, capture_output=True, text=True)
        sys.stdout.write(r.stdout + r.stderr)
        if r.returncode != 0:
            raise SystemExit("demo: 'vaultd %s' failed" % " ".join(args))

    def start(self):
        log = open(os.path.join(DEMO, "vaultd.log"), "wb")
        self.proc = subprocess.Popen(
            [self.vaultd, "--state-dir", os.path.join(DEMO, "state"),
             "--key-file", os.path.join(DEMO, "root.key"),
             "--policy", os.path.join(DEMO, "vaultd.policy"), "--socket", self.sock]
            + (["--user", "nobody"] if os.geteuid() == 0 else []),
            stdout=log, stderr=log)
        for _ in range(500):
            if self.proc.poll() is not None:
                raise SystemExit("demo: vaultd exited; see demo/vaultd.log")
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.connect(self.sock)
                return
            except OSError:
                time.sleep(0.01)
        raise SystemExit("demo: vaultd did not start; see demo/vaultd.log")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            return self.proc.wait(timeout=30)
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--count", type=int, default=1000)
    args = ap.parse_args()
    d = Demo(os.path.abspath(args.build))

    shutil.rmtree(DEMO, ignore_errors=True)
    os.makedirs(DEMO)
    os.chmod(DEMO, 0o711)  # vaultd, running as nobody, must reach its policy file
    step("1. create a root key and a vault (store, wrapped keys, audit line 0)")
    key, state = os.path.join(DEMO, "root.key"), os.path.join(DEMO, "state")
    d.vaultd_run("--generate-key", key)
    d.vaultd_run("--init", "--state-dir", state, "--key-file", key)
    # The demo user is admin, auditor and a service for every collection.
    with open(os.path.join(DEMO, "vaultd.policy"), "w") as f:
        f.write("allow user %d role admin,auditor\n" % os.getuid())
        f.write("allow user %d role service collections *\n" % os.getuid())

    try:
        step("2. start vaultd on ./demo/vaultd.sock")
        d.start()
        print(d.ctl("status"), end="")
        run(d, args.count)
    finally:
        rc = d.stop()
    if rc != 0:
        raise SystemExit("demo: vaultd did not stop cleanly (exit %s)" % rc)
    print("\nvaultd stopped cleanly. Everything is in ./demo/ (delete it when done).")


def run(d, count):
    step("3. store %d synthetic beneficiary dossiers (pipelined import)" % count)
    by_collection = {}
    for coll, rid, rec in synthdata.generate(count, seed=2026):
        by_collection.setdefault(coll, []).append((rid, rec))
    t0 = time.monotonic()
    for coll, items in by_collection.items():
        data = "".join(json.dumps({"id": rid, "record": rec}, ensure_ascii=False) + "\n"
                       for rid, rec in items).encode()
        print(d.ctl("import", coll, "-", input=data), end="")
    elapsed = time.monotonic() - t0
    print("stored %d records in %.2f s (%.0f puts/s)" % (count, elapsed, count / elapsed))

    step("4. read some back")
    coll, items = next(iter(by_collection.items()))
    for rid, rec in items[:3]:
        got = json.loads(d.ctl("get", coll, rid))
        assert got == rec, "read back differs for %s" % rid
        print("  %s/%s: %s, %s, %s, %s VND/month" % (coll, rid, got["ho_ten"], got["so_cccd"],
                                                     got["doi_tuong"], format(got["tro_cap_hang_thang_vnd"], ",")))

    step("5. update 10 dossiers: a new allowance makes a new version")
    for rid, rec in items[:10]:
        rec["tro_cap_hang_thang_vnd"] += 150_000
        d.ctl("put", coll, rid, "-", input=json.dumps(rec, ensure_ascii=False).encode(), show=False)
    rid0 = items[0][0]
    print(d.ctl("get", coll, rid0, "--version", "1", show=True)[:80] + "…")
    print(d.ctl("get", coll, rid0)[:80] + "…")

    step("6. delete one dossier; its history stays")
    rid_del = items[-1][0]
    print(d.ctl("delete", coll, rid_del), end="")
    r = subprocess.run([d.vaultctl, "--socket", d.sock, "get", coll, rid_del], capture_output=True)
    print("$ vaultctl get %s %s\n%s" % (coll, rid_del, r.stderr.decode().strip()))
    assert r.returncode != 0
    print(d.ctl("history", coll, rid0), end="")
    print(d.ctl("history", coll, rid_del), end="")

    step("7. list the first records of a collection")
    print(d.ctl("list", coll, "--limit", "5"), end="")

    step("8. export the audit trail and verify it offline against the verifier key")
    head = json.loads(d.ctl("--json", "audit", "head", show=False))
    print(d.ctl("audit", "head"), end="")
    export = os.path.join(DEMO, "audit-export.jsonl")
    d.ctl("audit", "export", "-o", export)
    print(d.ctl("audit", "verify", "--file", export, "--key", head["verifier_key"]), end="")
    print(d.ctl("audit", "verify"), end="")

    step("9. summary")
    status = json.loads(d.ctl("--json", "status", show=False))
    with open(export, "rb") as f:
        lines = [json.loads(x) for x in f.read().split(b"\n")[1:] if x]
    ops = {}
    for entry in lines:
        if "op" in entry:
            ops[entry["op"]] = ops.get(entry["op"], 0) + 1
    print("records live:        %d" % status["records"])
    print("audit lines:         %d" % status["audit_lines"])
    print("requests / batches:  %d / %d (group commit)" % (status["requests"], status["batches"]))
    print("audit ops exported:  " + ", ".join("%s %d" % kv for kv in sorted(ops.items())))
    print("export:              %s" % export)


if __name__ == "__main__":
    main()
