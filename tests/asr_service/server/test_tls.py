"""TLS and mutual TLS on the gRPC port and the HTTP port, certificates rotated without a restart, and no
plain text on a non-loopback address unless the config says so (certificates made with openssl)."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from asr_service.cli import main
from asr_service.client import AsrClient
from asr_service.config import ServerConfig, load_config
from asr_service.errors import ClientError, ConfigError
from asr_service.server import BackgroundServer
from protos.asr.v1 import asr_pb2, asr_pb2_grpc
from tests.certs import Authority, Leaf, authority
from tests.fakes import FakeEngine, tone_bytes
from tests.paths import ESPEAK_SAMPLE

AUDIO = tone_bytes(1.0, 0.3)


@pytest.fixture()
def ca(tmp_path: Path) -> Authority:
    return authority(tmp_path / "pki")


def _serve(leaf: Leaf, *, client_ca: Path | None = None, http: bool = False) -> BackgroundServer:
    config = ServerConfig(port=0, shutdown_notice_s=0.0, tls_cert_file=str(leaf.cert), tls_key_file=str(leaf.key),
                          tls_client_ca_file=str(client_ca) if client_ca else None, http_port=0 if http else None)
    return BackgroundServer(config, engine_factory=lambda _: FakeEngine(text="over tls")).start()


@pytest.fixture()
def served(ca: Authority) -> Iterator[tuple[BackgroundServer, Leaf]]:
    leaf = ca.issue("server")
    running = _serve(leaf, http=True)
    yield running, leaf
    running.stop(1.0)


def _https_peer_serial(port: int, ca: Path) -> int:
    context = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as tls:
        der = tls.getpeercert(binary_form=True)
        assert der is not None
    # the serial, read from the certificate by openssl
    text = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=ssl.DER_cert_to_PEM_cert(der).encode(),
                          capture_output=True, check=True).stdout.decode()
    return int(text.strip().split("=")[1], 16)


def test_grpc_and_http_speak_tls(served: tuple[BackgroundServer, Leaf], ca: Authority) -> None:
    running, _ = served
    with AsrClient(running.target, tls_ca_file=str(ca.cert)) as client:
        assert client.recognize(AUDIO).text == "over tls"
    with AsrClient(running.target, timeout_s=3) as plain, pytest.raises(ClientError):
        plain.recognize(AUDIO)  # plain text to a TLS port gets nothing
    other = authority(ca.folder / "other", "other-ca")
    with AsrClient(running.target, tls_ca_file=str(other.cert), timeout_s=3) as stranger, pytest.raises(ClientError):
        stranger.recognize(AUDIO)  # a certificate this client's CA did not sign is refused
    port = running.server.monitor.http_port
    context = ssl.create_default_context(cafile=str(ca.cert))
    with urllib.request.urlopen(f"https://localhost:{port}/healthz", context=context, timeout=5) as reply:
        assert reply.read() == b"SERVING\n"
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).read()


def test_mutual_tls_wants_a_client_certificate_from_the_ca(ca: Authority) -> None:
    running = _serve(ca.issue("server"), client_ca=ca.cert)
    try:
        with AsrClient(running.target, tls_ca_file=str(ca.cert), timeout_s=3) as anonymous, \
                pytest.raises(ClientError):
            anonymous.recognize(AUDIO)
        me = ca.issue("phone-app", client=True)
        with AsrClient(running.target, tls_ca_file=str(ca.cert), tls_cert_file=str(me.cert),
                       tls_key_file=str(me.key)) as client:
            assert client.recognize(AUDIO).text == "over tls"
    finally:
        running.stop(1.0)


def test_renewed_certificates_are_served_without_a_restart(
    served: tuple[BackgroundServer, Leaf], ca: Authority
) -> None:
    running, leaf = served
    port = running.server.monitor.http_port
    before = _https_peer_serial(port, ca.cert)
    renewed = ca.issue("server-renewed")
    time.sleep(0.01)
    shutil.copyfile(renewed.key, leaf.key)  # as cert-manager rewrites the mounted files
    shutil.copyfile(renewed.cert, leaf.cert)
    os.utime(leaf.cert)
    assert _https_peer_serial(port, ca.cert) != before
    # gRPC: a certificate from a new CA, then only a client that trusts the new CA gets through
    new_ca = authority(ca.folder / "new", "new-ca")
    moved = new_ca.issue("server-new-ca")
    shutil.copyfile(moved.key, leaf.key)
    shutil.copyfile(moved.cert, leaf.cert)
    os.utime(leaf.cert)
    with AsrClient(running.target, tls_ca_file=str(new_ca.cert)) as client:
        assert client.recognize(AUDIO).text == "over tls"
    with AsrClient(running.target, tls_ca_file=str(ca.cert), timeout_s=3) as old, pytest.raises(ClientError):
        old.recognize(AUDIO)


def test_no_plain_text_on_a_remote_address_unless_asked(ca: Authority) -> None:
    with pytest.raises(ConfigError, match=r"host: '0\.0\.0\.0' .*loopback address without TLS"):
        ServerConfig(host="0.0.0.0")
    assert ServerConfig(host="0.0.0.0", allow_plaintext_remote=True).tls is None
    leaf = ca.issue("server")
    assert ServerConfig(host="0.0.0.0", tls_cert_file=str(leaf.cert), tls_key_file=str(leaf.key)).tls is not None
    with pytest.raises(ConfigError, match="both set, or neither"):
        load_config(env={"ASR_TLS_CERT_FILE": str(leaf.cert)})
    with pytest.raises(ConfigError, match=r"tls_cert_file: .*a readable file"):
        load_config(env={"ASR_TLS_CERT_FILE": "/no/such.pem", "ASR_TLS_KEY_FILE": str(leaf.key)})


def test_grpc_status_over_tls_is_the_servers(served: tuple[BackgroundServer, Leaf], ca: Authority) -> None:
    running, _ = served
    with open(ca.cert, "rb") as handle:
        credentials = grpc.ssl_channel_credentials(root_certificates=handle.read())
    with grpc.secure_channel(running.target, credentials) as channel, pytest.raises(grpc.RpcError) as info:
        asr_pb2_grpc.RecognizerStub(channel).Recognize(asr_pb2.RecognizeRequest(audio=AUDIO), timeout=5)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # the server's own answer, through TLS


def test_the_cli_speaks_tls_to_a_server(
    served: tuple[BackgroundServer, Leaf], ca: Authority, capsys: pytest.CaptureFixture[str]
) -> None:
    running, _ = served
    assert main(["transcribe", "--server", running.target, "--tls-ca", str(ca.cert), "--json",
                 str(ESPEAK_SAMPLE)]) == 0
    assert '"text": "over tls"' in capsys.readouterr().out
