#!/usr/bin/python3
"""Reading the audit trail on a large vault: how fast, and that other
clients are served meanwhile.

Starts a vault, writes --versions record versions (empty bodies,
pipelined, over --records records), then measures, each while another
connection keeps calling records.Get (their latency is reported):

- online audit.Verify, lines per second;
- audit.Export streamed to the end, lines per second;
- offline `vaultctl audit verify --file` of that export, lines per second;
- --verifiers concurrent Verify calls by one auditor (uid): how they are
  answered, and what they cost the Gets.

--dir keeps the vault (and the export) in a directory, so that a second
run, of the same or another build, measures the same trail without
writing it again.

    python3 bench/verify.py --build build --versions 100000
    python3 bench/verify.py --build build --dir /tmp/vbench --versions 300000
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time


class Client:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(600)
        self.sock.connect(path)
        self.buf = b""

    def send(self, method, params=None, more=False):
        msg = {"method": method, "parameters": params or {}}
        if more:
            msg["more"] = True
        self.sock.sendall(json.dumps(msg).encode() + b"\0")

    def recv_raw(self):
        while True:
            i = self.buf.find(b"\0")
            if i >= 0:
                msg, self.buf = self.buf[:i], self.buf[i + 1:]
                return msg
            chunk = self.sock.recv(1 << 22)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk

    def recv(self):
        return json.loads(self.recv_raw())

    def call(self, method, params=None):
        self.send(method, params)
        return self.recv()


def fill(sock, versions, records, window=64):
    c = Client(sock)
    sent = received = 0
    while received < versions:
        while sent < versions and sent - received < window:
            c.send("io.vaultd.records.Put", {"collection": "b", "id": "R-%d" % (sent % records), "data": ""})
            sent += 1
        r = c.recv()
        received += 1
        if "error" in r:
            sys.exit("put failed: %s" % r)


class Gets:
    """records.Get in a loop on a connection of its own, timed."""

    def __init__(self, sock):
        self.client, self.latencies, self.done = Client(sock), [], threading.Event()
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        while not self.done.is_set():
            t0 = time.monotonic()
            r = self.client.call("io.vaultd.records.Get", {"collection": "b", "id": "R-1"})
            assert "error" not in r, r
            self.latencies.append(time.monotonic() - t0)

    def stop(self):
        self.done.set()
        self.thread.join()
        lat = sorted(self.latencies)
        if not lat:
            return "no Get completed meanwhile"
        return "Gets meanwhile: %d, p50 %.1f ms, p99 %.1f ms, max %.1f ms" % (
            len(lat), 1000 * lat[len(lat) // 2], 1000 * lat[int(len(lat) * 0.99)], 1000 * lat[-1])


def bench_verify(sock):
    gets = Gets(sock)
    t = time.monotonic()
    r = Client(sock).call("io.vaultd.audit.Verify")
    elapsed = time.monotonic() - t
    meanwhile = gets.stop()
    if "error" in r:
        sys.exit("verify failed: %s" % r)
    p = r["parameters"]
    print("Verify: %.2f s for %d lines (%.0f lines/s), %d checkpoints, %d records, %d versions"
          % (elapsed, p["lines"], p["lines"] / elapsed, p["checkpoints"], p.get("records", 0),
             p.get("versions", 0)))
    print("  " + meanwhile)


def bench_export(sock, path):
    gets = Gets(sock)
    c = Client(sock)
    t = time.monotonic()
    c.send("io.vaultd.audit.Export", more=True)
    nlines = 0
    with open(path, "wb") as f:
        while True:
            raw = c.recv_raw()
            msg = json.loads(raw)
            if "error" in msg:
                sys.exit("export failed: %s" % msg)
            lines = msg["parameters"]["lines"]
            nlines += len(lines)
            f.write("".join(line + "\n" for line in lines).encode())
            if not msg.get("continues"):
                break
    elapsed = time.monotonic() - t
    meanwhile = gets.stop()
    print("Export: %.2f s for %d lines of the file (%.0f lines/s, received and parsed by Python)"
          % (elapsed, nlines, nlines / elapsed))
    print("  " + meanwhile)
    return nlines


def bench_offline(build, path, vkey, nlines):
    t = time.monotonic()
    r = subprocess.run([os.path.join(build, "vaultctl"), "audit", "verify", "--file", path, "--key", vkey],
                       capture_output=True, text=True)
    elapsed = time.monotonic() - t
    if r.returncode != 0:
        sys.exit("offline verify failed: %s" % r.stderr)
    print("Offline verify --file: %.2f s for %d lines (%.0f lines/s)" % (elapsed, nlines, nlines / elapsed))


def bench_concurrent(sock, n):
    gets = Gets(sock)
    clients = [Client(sock) for _ in range(n)]
    t = time.monotonic()
    for c in clients:
        c.send("io.vaultd.audit.Verify")
    answers = {}
    for c in clients:
        r = c.recv()
        name = r.get("error", "ok")
        answers[name] = answers.get(name, 0) + 1
    elapsed = time.monotonic() - t
    meanwhile = gets.stop()
    print("%d concurrent Verify calls by one auditor: all answered in %.2f s: %s"
          % (n, elapsed, ", ".join("%d %s" % (k, v) for v, k in sorted(answers.items()))))
    print("  " + meanwhile)


def start(build, tmp, user):
    state, key, sock = os.path.join(tmp, "state"), os.path.join(tmp, "root.key"), os.path.join(tmp, "s.sock")
    pol = os.path.join(tmp, "policy")
    with open(pol, "w") as f:
        f.write("allow user %d role service,auditor collections *\n" % os.getuid())
    fresh = not os.path.exists(state)
    if fresh:
        for cmd in (["--generate-key", key], ["--init", "--state-dir", state, "--key-file", key]):
            subprocess.run([os.path.join(build, "vaultd")] + cmd + user, check=True, capture_output=True)
    d = subprocess.Popen([os.path.join(build, "vaultd"), "--state-dir", state, "--key-file", key, "--policy", pol,
                          "--socket", sock] + user, stderr=subprocess.DEVNULL)
    for _ in range(3000):
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(sock)
            break
        except OSError:
            time.sleep(0.01)
    return d, sock, fresh


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--dir", help="keep the vault here, and reuse it when it exists")
    ap.add_argument("--versions", type=int, default=100000)
    ap.add_argument("--records", type=int, default=10000)
    ap.add_argument("--verifiers", type=int, default=16)
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    tmp = args.dir or tempfile.mkdtemp(prefix="vaultd-bench-verify-")
    os.makedirs(tmp, exist_ok=True)
    os.chmod(tmp, 0o755)
    user = ["--user", "nobody"] if os.geteuid() == 0 else []
    d, sock, fresh = start(build, tmp, user)
    try:
        if fresh:
            t = time.monotonic()
            fill(sock, args.versions, args.records)
            print("wrote %d versions of %d records in %.1f s" % (args.versions, args.records,
                                                                 time.monotonic() - t))
        vkey = Client(sock).call("io.vaultd.audit.Head")["parameters"]["verifier_key"]
        bench_verify(sock)
        export = os.path.join(tmp, "export.jsonl")
        nlines = bench_export(sock, export)
        bench_offline(build, export, vkey, nlines)
        if args.verifiers:
            bench_concurrent(sock, args.verifiers)
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait(timeout=60)
        if not args.dir:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
