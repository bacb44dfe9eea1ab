#!/usr/bin/python3
"""Online Verify on a large vault: how long it takes, and that other
clients are served meanwhile.

Starts a throwaway vault, writes --versions record versions (empty bodies,
pipelined, over --records records), then runs audit.Verify on one
connection while another keeps calling records.Get, and reports Verify's
time and the Gets' latency during it.

    python3 bench/verify.py --build build --versions 100000
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

    def send(self, method, params=None):
        self.sock.sendall(json.dumps({"method": method, "parameters": params or {}}).encode() + b"\0")

    def recv(self):
        while b"\0" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--versions", type=int, default=100000)
    ap.add_argument("--records", type=int, default=10000)
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    tmp = tempfile.mkdtemp(prefix="vaultd-bench-verify-")
    os.chmod(tmp, 0o755)
    state, key, sock = os.path.join(tmp, "state"), os.path.join(tmp, "root.key"), os.path.join(tmp, "s.sock")
    pol = os.path.join(tmp, "policy")
    user = ["--user", "nobody"] if os.geteuid() == 0 else []
    with open(pol, "w") as f:
        f.write("allow user %d role service,auditor collections *\n" % os.getuid())
    for cmd in (["--generate-key", key], ["--init", "--state-dir", state, "--key-file", key]):
        subprocess.run([os.path.join(build, "vaultd")] + cmd + user, check=True, capture_output=True)
    d = subprocess.Popen([os.path.join(build, "vaultd"), "--state-dir", state, "--key-file", key, "--policy", pol,
                          "--socket", sock] + user, stderr=subprocess.DEVNULL)
    try:
        for _ in range(500):
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(sock)
                break
            except OSError:
                time.sleep(0.01)
        t = time.monotonic()
        fill(sock, args.versions, args.records)
        print("wrote %d versions of %d records in %.1f s" % (args.versions, args.records, time.monotonic() - t))
        verifier, reader = Client(sock), Client(sock)
        latencies, done = [], threading.Event()

        def read():
            while not done.is_set():
                t0 = time.monotonic()
                r = reader.call("io.vaultd.records.Get", {"collection": "b", "id": "R-1"})
                assert "error" not in r, r
                latencies.append(time.monotonic() - t0)

        th = threading.Thread(target=read)
        t = time.monotonic()
        th.start()
        r = verifier.call("io.vaultd.audit.Verify")
        elapsed = time.monotonic() - t
        done.set()
        th.join()
        if "error" in r:
            sys.exit("verify failed: %s" % r)
        p = r["parameters"]
        latencies.sort()
        print("Verify: %.2f s for %d lines, %d checkpoints, %d records, %d versions"
              % (elapsed, p["lines"], p["checkpoints"], p.get("records", 0), p.get("versions", 0)))
        if latencies:
            print("Gets on another connection meanwhile: %d, p50 %.1f ms, p99 %.1f ms, max %.1f ms"
                  % (len(latencies), 1000 * latencies[len(latencies) // 2],
                     1000 * latencies[int(len(latencies) * 0.99)], 1000 * latencies[-1]))
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
