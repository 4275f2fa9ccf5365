"""Fixtures for the Redis backends: a real ``redis-server`` per test on a free loopback port.

The server runs without persistence (``--save "" --appendonly no``) so a restart really loses
every key — the case the identify queue must survive. It is killed after the test.
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ping(port: int, ca_file: Path | None = None) -> bool:
    """Whether a Redis answers on ``port`` (a password-protected one answers -NOAUTH)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as raw:
            s: socket.socket = raw
            if ca_file is not None:
                s = ssl.create_default_context(cafile=str(ca_file)).wrap_socket(
                    raw, server_hostname="127.0.0.1"
                )
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def make_self_signed_cert(workdir: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (PEM files), made with ``cryptography``.

    The certificate is its own CA: the clients trust exactly it, so verification is real.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ezlang test redis")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = workdir / "redis-cert.pem", workdir / "redis-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class RedisServer:
    """A redis-server child process that tests can stop and restart on the same port."""

    def __init__(
        self,
        workdir: Path,
        extra_bind: str | None = None,
        *,
        tls: tuple[Path, Path] | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.workdir = workdir
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        #: Another local address to listen on (the network-namespace test's bridge address).
        self.extra_bind = extra_bind
        #: (certificate, key) to serve TLS only (no plain port), or None.
        self.tls = tls
        #: More redis-server options (e.g. ``--requirepass``).
        self.extra_args = extra_args
        #: What redis-server wrote on stderr when it failed to start.
        self.startup_error = ""

    @property
    def url(self) -> str:
        return self.url_for()

    def url_for(self, user: str | None = None, password: str | None = None) -> str:
        """A URL for this server, with credentials; rediss:// trusting its certificate if TLS."""
        auth = ""
        if password is not None:
            auth = f"{quote(user or '', safe='')}:{quote(password, safe='')}@"
        if self.tls is None:
            return f"redis://{auth}127.0.0.1:{self.port}/0"
        return f"rediss://{auth}127.0.0.1:{self.port}/0?ssl_ca_certs={quote(str(self.tls[0]))}"

    def start(self, deadline: float = 10.0) -> None:
        """Start (or restart) the server and wait until it answers PING."""
        assert self.proc is None
        ports = ["--port", str(self.port)]
        if self.tls is not None:
            cert, key = self.tls
            ports = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(cert)]
            ports += ["--tls-key-file", str(key), "--tls-ca-cert-file", str(cert)]
            ports += ["--tls-auth-clients", "no"]
        log = self.workdir / f"redis-{self.port}.log"
        with log.open("wb") as out:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [
                    REDIS_SERVER,
                    *ports,
                    "--bind",
                    " ".join(["127.0.0.1", *([self.extra_bind] if self.extra_bind else [])]),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.workdir),
                    "--protected-mode",
                    "no",
                    "--loglevel",
                    "warning",
                    *self.extra_args,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                self.startup_error = log.read_text(errors="replace").strip()
                code, self.proc = self.proc.returncode, None
                raise RuntimeError(f"redis-server exited with {code}: {self.startup_error}")
            if _ping(self.port, self.tls[0] if self.tls else None):
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("redis-server did not answer PING in time")

    def stop(self) -> None:
        """Kill the server (SIGKILL: a crash, no chance to save) and reap it."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh redis-server for one test."""
    if not Path(REDIS_SERVER).exists():
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    for _attempt in range(3):  # the free port may be taken between probe and bind
        try:
            server.start()
            break
        except RuntimeError:
            server.port = _free_port()
    else:
        pytest.fail("could not start redis-server")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def make_redis_server(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Start redis-servers with extra options (e.g. another bind address); all killed after."""
    started: list[RedisServer] = []

    def make(
        extra_bind: str | None = None,
        *,
        tls: tuple[Path, Path] | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> RedisServer:
        server = RedisServer(tmp_path, extra_bind=extra_bind, tls=tls, extra_args=extra_args)
        started.append(server)
        server.start()
        return server

    try:
        yield make
    finally:
        for server in started:
            server.stop()
