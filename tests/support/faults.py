"""Private servers a fault test may stop, kill and restart: a redis-server and a PostgreSQL cluster.

The shared Redis (6379) and PostgreSQL (5432) serve every other test and helper on the machine,
so a test that needs to take its backend away starts one of its own on a free loopback port.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

REDIS_SERVER = shutil.which("redis-server")
# Debian's packaged PostgreSQL keeps initdb and pg_ctl out of PATH (a link to one in PATH leads to the rest).
POSTGRES_BIN = next(
    (
        path.parent
        for path in [Path(found).resolve() for found in [shutil.which("initdb")] if found]
        + sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
        if (path.parent / "pg_ctl").exists()
    ),
    None,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, timeout: float, what: str) -> None:
    """Poll `condition` (a real process coming up or going away) until it holds, or fail."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class RedisServer:
    """A redis-server of the test's own, without persistence: stop, kill, freeze and start it again
    on the same port."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> "RedisServer":
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self.answers, 10, f"redis-server on port {self.port}")
        return self

    def answers(self) -> bool:
        client = Redis.from_url(self.url, socket_connect_timeout=0.2, socket_timeout=0.2)
        try:
            return bool(client.ping())
        except RedisError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        """A clean shutdown (SIGTERM); nothing is saved, so whatever was queued in it is gone."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """A crash (SIGKILL)."""
        self._end(signal.SIGKILL)

    def freeze(self) -> None:
        """Hung, not gone: the port still accepts connections, nothing is answered."""
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def _end(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.send_signal(sig)
            self.process.wait(timeout=10)
        self.process = None


class PostgresCluster:
    """A throwaway PostgreSQL cluster (initdb into a temporary directory) on a free port.

    As root, the PostgreSQL tools run as the `postgres` user (initdb refuses root), in a
    directory that user owns. fsync is off: the data is thrown away after the test.
    """

    def __init__(self):
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="linktrack-pg-"))
        self.data = self.directory / "data"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.running = False
        if os.geteuid() == 0:
            shutil.chown(self.directory, user="postgres")

    def _run(self, tool: str, *args: str) -> None:
        command = [str(POSTGRES_BIN / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            log = self.directory / "server.log"
            raise RuntimeError(f"{tool} failed: {done.stderr}{log.read_text() if log.exists() else ''}")

    def create(self) -> "PostgresCluster":
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        return self.start()

    def start(self) -> "PostgresCluster":
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.directory / "server.log"), "-w", "start"
        )
        self.running = True
        return self

    def stop(self) -> None:
        """`pg_ctl stop -m fast`: open sessions are cut off, as in a restart or a failover."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        self.running = False

    def destroy(self) -> None:
        if self.running:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self.running = False
        shutil.rmtree(self.directory, ignore_errors=True)

    def sql(self, statement: str) -> str:
        """Run `statement` on this cluster directly (psql, not the app), answering its first value."""
        done = subprocess.run(
            [str(POSTGRES_BIN / "psql"), self.url, "-XAtqc", statement], capture_output=True, text=True, timeout=30
        )
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
        return done.stdout.strip()

    def replica(self) -> "PostgresCluster":
        """A streaming replica of this cluster (pg_basebackup -R: a standby that follows it), on a
        port of its own and started. initdb's pg_hba already trusts replication from 127.0.0.1, and
        PostgreSQL's defaults (wal_level replica, ten WAL senders, hot_standby on) stream as they are."""
        standby = PostgresCluster()
        try:
            standby._run(
                "pg_basebackup", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-D", str(standby.data),
                "-R", "-X", "stream", "--checkpoint=fast", "--no-sync",
            )  # fmt: skip
            return standby.start()
        except BaseException:
            standby.destroy()
            raise

    def replayed(self, primary: "PostgresCluster") -> bool:
        """Whether this standby has replayed everything `primary` has written so far."""
        written = primary.sql("SELECT pg_current_wal_lsn()")
        return self.sql(f"SELECT pg_last_wal_replay_lsn() >= '{written}'::pg_lsn") == "t"


PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


class PgBouncer:
    """Debian's PgBouncer in front of a PostgresCluster, on a free port, trusting the `postgres`
    user (as the cluster does), run as that user (PgBouncer refuses root) until stop()."""

    def __init__(self, cluster: PostgresCluster, pool_mode: str = "transaction", pool_size: int = 2):
        self.cluster = cluster
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.directory = Path(tempfile.mkdtemp(prefix="linktrack-pgbouncer-"))
        (self.directory / "users.txt").write_text('"postgres" ""\n')
        (self.directory / "pgbouncer.ini").write_text(
            f"[databases]\npostgres = host=127.0.0.1 port={cluster.port} dbname=postgres\n\n"
            f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {self.directory / 'users.txt'}\n"
            f"pool_mode = {pool_mode}\ndefault_pool_size = {pool_size}\nmin_pool_size = 0\nreserve_pool_size = 0\n"
            f"max_client_conn = 200\nquery_wait_timeout = 5\nadmin_users = postgres\n"
            f"logfile = {self.directory / 'pgbouncer.log'}\n"
        )
        if os.geteuid() == 0:
            shutil.chown(self.directory, user="postgres")
            for path in self.directory.iterdir():
                shutil.chown(path, user="postgres")
        self.process: subprocess.Popen | None = None

    def start(self) -> "PgBouncer":
        command = [PGBOUNCER, str(self.directory / "pgbouncer.ini")]
        user = "postgres" if os.geteuid() == 0 else None  # no runuser in between: stop() signals pgbouncer itself
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, user=user)
        wait_until(self._listening, 10, f"pgbouncer on port {self.port}")
        return self

    def _listening(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"pgbouncer exited: {(self.directory / 'pgbouncer.log').read_text()}")
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def transactions(self) -> int:
        """Transactions PgBouncer has carried to the cluster so far (SHOW STATS' total_xact_count;
        its admin console speaks only the simple query protocol: psql)."""
        command = [str(POSTGRES_BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
        done = subprocess.run([*command, "pgbouncer", "-XAF|", "-c", "SHOW STATS"], capture_output=True, text=True)
        header, *rows = done.stdout.splitlines()
        column = header.split("|").index("total_xact_count")
        return sum(int(row.split("|")[column]) for row in rows if row.startswith("postgres|"))

    def stop(self) -> None:
        """SIGTERM: PgBouncer's immediate shutdown (its clients are cut off)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None
        shutil.rmtree(self.directory, ignore_errors=True)
