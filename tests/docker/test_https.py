"""HTTPS at nginx (https=yes), for real with each nginx server: `make cert`'s self-signed
certificate, HTTP/2, TLS 1.2 and 1.3 only, plain HTTP redirected with its path, query and
the published HTTPS port, HSTS, the app seeing scheme https and the Host the client sent,
the key readable by nginx's uid only, a renewed certificate picked up by `make
reload-nginx` under a steady load (20 clients, bounded) with no failed request, and
testssl.sh finding no weak protocol or cipher. Traffic only to 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Bake
from helpers import NGINX_SERVERS, Load, Reply, exchange, parse_reply, run, send_request
from hooks.plan import Plan
from stack import Stack, compose_stack

# How the app sees a request: scheme, host and URL, as Flask reads them.
WHERE_ROUTE = '''

@app.get("/where")
def where() -> dict[str, str]:
    """How the app sees this request: for the HTTPS test."""
    from flask import request

    return {"scheme": request.scheme, "host": request.host, "url": request.url}
'''
# testssl.sh's findings a self-signed certificate is expected to raise: no CA vouches for
# it (chain of trust), and it names no CRL or OCSP responder (revocation).
SELF_SIGNED_FINDINGS = {"cert_chain_of_trust", "cert_revocation"}
WEAK = {"MEDIUM", "HIGH", "CRITICAL"}


@pytest.fixture(scope="module", params=NGINX_SERVERS)
def stack(
    request: pytest.FixtureRequest, bake_session_copy: Bake, base_images: dict[str, str]
) -> Iterator[Stack]:
    """Each nginx server with https=yes, started straight after the bake: its certificate
    is the one the bake made with `make cert`."""
    project = bake_session_copy(server=request.param, https=True)
    with (project / "main.py").open("a") as main:
        main.write(WHERE_ROUTE)
    plan = Plan.defaults(server=request.param, https=True)
    with compose_stack(project, plan, base_images) as running:
        yield running


def certs(stack: Stack) -> Path:
    return stack.project / "certs"


def trusting(*cafiles: Path) -> ssl.SSLContext:
    """A client context trusting these certificates (each its own CA), checking that
    the server's is localhost's."""
    context = ssl.create_default_context()
    for cafile in cafiles:
        context.load_verify_locations(cafile)
    return context


def https_get(stack: Stack, path: str, host: str = "localhost") -> Reply:
    """GET over HTTPS (HTTP/1.0) to the published port with this Host header, trusting
    certs/cert.pem."""
    request = f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode()
    context = trusting(certs(stack) / "cert.pem")
    return parse_reply(exchange(stack.https_front, request, 10, tls=context))


def served_fingerprint(stack: Stack) -> str:
    """The SHA-256 of the certificate nginx serves now (taken, not verified)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", stack.https_port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return hashlib.sha256(der).hexdigest()


def file_fingerprint(cert: Path) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(cert.read_text())).hexdigest()


def s_client(stack: Stack, *options: str) -> subprocess.CompletedProcess[str]:
    """openssl s_client to the HTTPS port with these options; it ends at once (no input)."""
    command = ["openssl", "s_client", "-connect", stack.https_front, "-servername", "localhost"]
    return subprocess.run(
        [*command, *options], input="", capture_output=True, text=True, timeout=30, check=False
    )


def test_make_cert_writes_a_certificate_for_localhost_once(stack: Stack) -> None:
    cert = certs(stack) / "cert.pem"
    text = run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-ext", "subjectAltName,basicConstraints"]
    )
    assert "DNS:localhost, IP Address:127.0.0.1" in text.stdout
    assert "CA:TRUE" in text.stdout
    before = cert.read_bytes(), (certs(stack) / "key.pem").read_bytes()
    run(["make", "cert"], cwd=stack.project)
    assert (cert.read_bytes(), (certs(stack) / "key.pem").read_bytes()) == before


def test_the_key_is_readable_by_nginx_only(stack: Stack) -> None:
    """Mode 0600 with an ACL for nginx's uid: its owner and nginx read it, no one else."""
    key = certs(stack) / "key.pem"
    assert key.stat().st_mode & 0o007 == 0
    acl = run(["getfacl", "--omit-header", "--numeric", str(key)]).stdout.split()
    nginx_uid = stack.plan.nginx_uid
    assert sorted(acl) == sorted(
        ["user::rw-", f"user:{nginx_uid}:r--", "group::---", "mask::r--", "other::---"]
    )
    readable = ["sh", "-c", f"test -r {stack.plan.certs_dir}/key.pem"]
    assert stack.exec("nginx", readable)[0] == 0
    # Another uid in the same container (the app's, say) cannot.
    assert stack.exec("nginx", readable, user=str(stack.plan.app_uid))[0] == 1


def test_http2_with_the_certificate_as_its_own_ca(stack: Stack) -> None:
    version = run(
        [
            "curl",
            "--http2",
            "--fail",
            "--silent",
            "--show-error",
            "--output",
            "/dev/null",
            "--write-out",
            "%{http_version}",
            "--cacert",
            str(certs(stack) / "cert.pem"),
            "--resolve",
            f"localhost:{stack.https_port}:127.0.0.1",
            f"https://localhost:{stack.https_port}/",
        ]
    ).stdout
    assert version == "2"


def test_tls_1_2_and_1_3_only(stack: Stack) -> None:
    # The client offers TLS 1.1 (SECLEVEL=0 lets this OpenSSL do so): the refusal is the
    # server's, an alert "protocol version" (70).
    old = s_client(stack, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
    assert old.returncode != 0
    assert "alert protocol version" in old.stderr, old.stderr
    for flag, protocol in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
        accepted = s_client(
            stack, flag, "-verify_return_error", "-CAfile", str(certs(stack) / "cert.pem")
        )
        assert accepted.returncode == 0, accepted.stderr
        assert (
            f"Protocol  : {protocol}" in accepted.stdout or f"New, {protocol}," in accepted.stdout
        )


def test_plain_http_redirects_to_the_published_https_port(stack: Stack) -> None:
    """Path and query kept; the port is the one clients reach HTTPS on (published), not
    nginx's own in its container; the host is the one the client asked for."""
    request = (
        b"GET /some/path?a=1&b=two HTTP/1.1\r\nHost: shop.example:8000\r\nConnection: close\r\n\r\n"
    )
    reply = send_request(stack.front, request)
    assert reply.status == 301
    assert (
        reply.headers["location"] == f"https://shop.example:{stack.https_port}/some/path?a=1&b=two"
    )


def test_hsts_on_every_https_answer(stack: Stack) -> None:
    for path, status in (("/", 200), ("/static/style.css", 200), ("/no-such-page", 404)):
        reply = https_get(stack, path)
        assert reply.status == status, path
        assert reply.headers["strict-transport-security"] == f"max-age={stack.plan.hsts_max_age_s}"
    assert stack.plan.hsts_max_age_s >= 180 * 86400


@pytest.mark.parametrize("host", ["localhost", "localhost:{https_port}", "shop.example:4443"])
def test_the_app_sees_https_and_the_host_the_client_sent(stack: Stack, host: str) -> None:
    """Scheme https and the Host header as sent, its port included (the app's external
    URLs: redirects, url_for(_external=True))."""
    host = host.format(https_port=stack.https_port)
    reply = https_get(stack, "/where?q=1", host=host)
    assert reply.status == 200, reply.body[:300]
    assert json.loads(reply.body) == {
        "scheme": "https",
        "host": host,
        "url": f"https://{host}/where?q=1",
    }


def write_certificate(folder: Path, days: int) -> None:
    """A new self-signed certificate for localhost, as `make cert` writes one."""
    folder.mkdir()
    run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", str(days), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem"),
        ]
    )  # fmt: skip


def test_a_renewed_certificate_is_served_after_a_reload_with_no_failed_request(
    stack: Stack, tmp_path: Path
) -> None:
    """Under 20 clients over HTTPS (bounded in requests and seconds): the new files
    replace the old ones in certs/ (as a renewal's deploy step copies them), `make
    reload-nginx`, and nginx serves the new certificate."""
    renewed = tmp_path / "renewed"
    write_certificate(renewed, stack.plan.self_signed_days)
    old = certs(stack) / "cert.pem"
    assert served_fingerprint(stack) == file_fingerprint(old)
    # The clients trust both: each connection gets one certificate or the other.
    context = trusting(old, renewed / "cert.pem")
    with Load(
        stack.https_front, clients=20, max_requests=6000, max_seconds=90, tls=context
    ) as load:
        assert load.wait_for(200)
        for name in ("key.pem", "cert.pem"):
            # Replaced under its name (a new file moved in), mode and ACL as make cert sets them.
            staged = certs(stack) / f".{name}.new"
            shutil.copyfile(renewed / name, staged)
            if name == "key.pem":
                staged.chmod(0o600)
                run(["setfacl", "-m", f"u:{stack.plan.nginx_uid}:r", str(staged)])
            staged.replace(certs(stack) / name)
        run(["make", "reload-nginx", f"COMPOSE=docker compose -p {stack.name}"], cwd=stack.project)
        assert load.wait_for(500)
        served = served_fingerprint(stack)
        assert load.wait_for(200)
    assert served == file_fingerprint(renewed / "cert.pem")
    print(f"\nrenewal under load: {load.result.requests} requests, {load.result.statuses}")
    assert load.result.errors == []
    assert load.result.requests >= 900


def test_testssl_finds_no_weak_protocol_or_cipher(stack: Stack, tmp_path: Path) -> None:
    """testssl.sh's protocols, cipher categories and server defaults, from its JSON:
    nothing of severity MEDIUM or above but what a self-signed certificate raises."""
    report = tmp_path / "testssl.json"
    subprocess.run(
        [
            "testssl", "--quiet", "--warnings", "off", "--color", "0",
            "--protocols", "--std", "--server-defaults",
            "--jsonfile", str(report), stack.https_front,
        ],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    findings = {finding["id"]: finding for finding in json.loads(report.read_text())}
    offered = {
        name: findings[name]["finding"]
        for name in ("SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3")
    }
    ciphers = {
        name: finding["finding"]
        for name, finding in findings.items()
        if name.startswith("cipherlist_")
    }
    print(f"\ntestssl: {offered}\ntestssl cipher categories: {ciphers}")
    for old in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        assert offered[old] == "not offered", offered
    for current in ("TLS1_2", "TLS1_3"):
        assert offered[current].startswith("offered"), offered
    # Only AEAD ciphers: no NULL, anonymous, export, 64-bit, 3DES or CBC ones.
    for weak_category in ("NULL", "aNULL", "EXPORT", "LOW", "3DES_IDEA", "AVERAGE"):
        assert ciphers[f"cipherlist_{weak_category}"] == "not offered", ciphers
    assert ciphers["cipherlist_STRONG"] == "offered", ciphers
    weak = {
        name: (finding["severity"], finding["finding"])
        for name, finding in findings.items()
        if finding["severity"] in WEAK and name not in SELF_SIGNED_FINDINGS
    }
    assert weak == {}
    # The self-signed certificate's own findings are there: testssl looked at it.
    assert set(findings) >= SELF_SIGNED_FINDINGS
