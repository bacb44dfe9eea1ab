"""The PostgreSQL peer of make bench: Debian's PostgreSQL 15 in a throwaway
cluster (initdb in a directory of its own, a Unix socket there and no TCP,
fsync and synchronous_commit on), the schema of bench/peer/schema.sql, and
pgbench as the load generator: CLIENTS connections, each calling put() with
a 1 KiB body in its own transaction and waiting for the commit.

initdb refuses root: as root the cluster and pgbench run as the postgres
user (Debian's package creates it)."""
import base64
import glob
import os
import pwd
import re
import secrets
import shutil
import subprocess
import time

import procstat

PG_BIN = "/usr/lib/postgresql/15/bin"
SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peer", "schema.sql")
PUT_SCRIPT = """\\set i random(0, 999)
SELECT put('bench', 'B' || :client_id || '-' || :i, :body, :key);
"""


class PeerError(Exception):
    pass


class Peer:
    def __init__(self, dirpath):
        if not os.path.exists(os.path.join(PG_BIN, "pgbench")):
            raise PeerError("PostgreSQL 15 is not installed (scripts/deps.sh bench installs postgresql-15)")
        self.dir = dirpath
        self.data = os.path.join(dirpath, "data")
        self.user = None
        os.makedirs(dirpath, mode=0o755, exist_ok=True)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            self.user = pw.pw_uid
            os.chown(dirpath, pw.pw_uid, pw.pw_gid)
        self.env = dict(os.environ, PGHOST=dirpath, PGDATABASE="postgres", PGUSER="postgres")
        self.started = False

    def _run(self, args, **kw):
        r = subprocess.run(args, user=self.user, env=self.env, cwd=self.dir, capture_output=True, text=True, **kw)
        if r.returncode != 0:
            raise PeerError("%s failed: %s" % (os.path.basename(args[0]), (r.stderr or r.stdout).strip()[-2000:]))
        return r.stdout

    def start(self):
        self._run([os.path.join(PG_BIN, "initdb"), "-D", self.data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
                   "--no-locale"])
        opts = "-c listen_addresses='' -k %s -c fsync=on -c synchronous_commit=on -c full_page_writes=on" % self.dir
        self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-l", os.path.join(self.dir, "postgres.log"),
                   "-w", "-o", opts, "start"])
        self.started = True
        self._run([os.path.join(PG_BIN, "psql"), "-q", "-v", "ON_ERROR_STOP=1", "-f", SCHEMA])
        settings = self._run([os.path.join(PG_BIN, "psql"), "-At", "-c",
                              "SELECT current_setting('server_version') || ' fsync=' || current_setting('fsync')"
                              " || ' synchronous_commit=' || current_setting('synchronous_commit')"])
        return settings.strip()

    @property
    def postmaster(self):
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.readline())

    def put(self, clients, seconds, body_bytes):
        """pgbench: CLIENTS connections calling put() for SECONDS. Returns
        the figures in vaultd-bench's shape, with the cluster's CPU."""
        script = os.path.join(self.dir, "put.sql")
        with open(script, "w") as f:
            f.write(PUT_SCRIPT)
        for old in glob.glob(os.path.join(self.dir, "latency*")):
            os.unlink(old)
        body = base64.b64encode(os.urandom(body_bytes)).decode()
        cpu0 = procstat.cpu_seconds(self.postmaster)
        out = self._run([os.path.join(PG_BIN, "pgbench"), "-n", "-M", "prepared", "-c", str(clients),
                         "-j", str(min(clients, os.cpu_count() or 1)), "-T", str(max(1, round(seconds))),
                         "-f", script, "-D", "body=" + body, "-D", "key=" + secrets.token_hex(16), "-l",
                         "--log-prefix=" + os.path.join(self.dir, "latency")])
        time.sleep(0.2)  # the backends exit and are reaped: their CPU moves to the postmaster
        cpu = procstat.cpu_seconds(self.postmaster) - cpu0
        latencies = []
        for path in glob.glob(os.path.join(self.dir, "latency*")):
            with open(path) as f:
                latencies += [int(line.split()[2]) for line in f if line.strip()]
        latencies.sort()
        m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out)
        n = len(latencies)
        failed = re.search(r"number of failed transactions: (\d+)", out)
        if not m or not n:
            raise PeerError("pgbench printed no result:\n" + out)
        return {"op": "put", "clients": clients, "depth": 1, "body_bytes": body_bytes, "requests": n,
                "per_second": float(m.group(1)), "p50_us": latencies[n // 2], "p99_us": latencies[n * 99 // 100],
                "max_us": latencies[-1], "failed": int(failed.group(1)) if failed else 0,
                "server_cpu_seconds": cpu, "cpu_us_per_req": 1e6 * cpu / n}

    def verify_chain(self):
        """The seq of the first bad audit row, None when the chain holds, and
        the number of rows."""
        out = self._run([os.path.join(PG_BIN, "psql"), "-At", "-c",
                         "SELECT coalesce(audit_verify()::text, 'ok'), count(*) FROM audit"])
        verdict, rows = out.strip().split("|")
        return verdict, int(rows)

    def stop(self):
        if self.started:
            subprocess.run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", "fast", "-w", "stop"],
                           user=self.user, env=self.env, cwd=self.dir, capture_output=True)
            self.started = False

    def remove(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
