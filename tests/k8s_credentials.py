"""Credentials for the emulated API server, made at test time (a CA, certificates, a token, kubeconfigs), and its TLS.

The emulated cluster serves TLS with a server certificate from its own CA and, like a real API
server, answers 401 to a request with no credential it knows. Each kubeconfig written here uses one
auth method as real clusters' kubeconfigs do: a bearer token; a client certificate and key as kind
writes them (base64 `client-certificate-data` / `client-key-data`); an exec plugin (a small script
that prints an ExecCredential, as the EKS, GKE and AKS plugins do). A second CA that the server does
not trust signs certificates that must be refused.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import ipaddress
import secrets
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp.test_utils
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

EXEC_API_VERSION = "client.authentication.k8s.io/v1"
EXEC_PLUGIN = """\
import json
print(json.dumps({{"apiVersion": "{api_version}", "kind": "ExecCredential", "status": {{"token": "{token}"}}}}))
"""


@dataclass(frozen=True)
class Certificate:
    """A certificate and its private key, PEM-encoded."""

    cert_pem: bytes
    key_pem: bytes

    def write(self, folder: Path, name: str) -> tuple[Path, Path]:
        """Both as files (ssl wants files): `<name>.crt` and `<name>.key`, the key owner-only."""
        cert, key = folder / f"{name}.crt", folder / f"{name}.key"
        cert.write_bytes(self.cert_pem)
        key.touch(0o600)
        key.write_bytes(self.key_pem)
        return cert, key


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )


class Authority:
    """A certificate authority that issues server and client certificates."""

    def __init__(self, name: str) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (
            _builder(self._name, self._name, self._key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.cert_pem = cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, common_name: str, *, organization: str | None = None, server: bool = False) -> Certificate:
        """A certificate for 127.0.0.1 (server) or for a user `common_name` in group `organization` (client)."""
        key = ec.generate_private_key(ec.SECP256R1())
        names = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        if organization:
            names.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = _builder(x509.Name(names), self._name, key.public_key()).add_extension(
            x509.ExtendedKeyUsage([usage]), critical=False
        )
        if server:
            alt_names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return Certificate(cert.public_bytes(serialization.Encoding.PEM), key_pem)


@dataclass(frozen=True)
class ClusterCredentials:
    """What the emulated API server trusts: certificates its CA signed, and one bearer token."""

    authority: Authority
    server: Certificate
    client: Certificate
    token: str

    @classmethod
    def generate(cls) -> ClusterCredentials:
        """A fresh CA, a server certificate for 127.0.0.1, a client certificate (system:masters), a token."""
        authority = Authority("gymkube-test-cluster-ca")
        return cls(
            authority=authority,
            server=authority.issue("kube-apiserver", server=True),
            client=authority.issue("gymkube-tests", organization="system:masters"),
            token=secrets.token_urlsafe(24),
        )

    def server_context(self, folder: Path) -> ssl.SSLContext:
        """TLS for the server: its certificate, and client certificates verified against the CA when given."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cadata=self.authority.cert_pem.decode())
        context.load_cert_chain(*self.server.write(folder, "apiserver"))
        context.verify_mode = ssl.CERT_OPTIONAL  # as kube-apiserver: a certificate, or else a token
        return context

    def client_context(self) -> ssl.SSLContext:
        """TLS for a client that trusts the cluster's CA."""
        return ssl.create_default_context(cadata=self.authority.cert_pem.decode())


class TLSServer(aiohttp.test_utils.RawTestServer):
    """kmock's aiohttp test server, serving TLS (aiohttp's test server takes `ssl` only when started)."""

    def __init__(self, handler: Any, *, tls: ssl.SSLContext, **kwargs: Any) -> None:
        super().__init__(handler, scheme="https", **kwargs)
        self.tls = tls

    async def start_server(self, loop: asyncio.AbstractEventLoop | None = None, **kwargs: Any) -> None:
        """Start listening with TLS."""
        await super().start_server(loop=loop, ssl=self.tls, **kwargs)


def token_user(token: str) -> dict[str, Any]:
    """A kubeconfig user with a bearer token."""
    return {"token": token}


def certificate_user(certificate: Certificate) -> dict[str, Any]:
    """A kubeconfig user with a client certificate and key inline, as kind writes them."""
    return {
        "client-certificate-data": base64.b64encode(certificate.cert_pem).decode(),
        "client-key-data": base64.b64encode(certificate.key_pem).decode(),
    }


def exec_user(folder: Path, token: str) -> dict[str, Any]:
    """A kubeconfig user whose token comes from an exec plugin: a script in `folder` that prints it."""
    script = folder / f"exec-plugin-{secrets.token_hex(4)}.py"
    script.write_text(EXEC_PLUGIN.format(api_version=EXEC_API_VERSION, token=token))
    return {
        "exec": {"apiVersion": EXEC_API_VERSION, "command": sys.executable, "args": [str(script)],
                 "interactiveMode": "Never"},
    }  # fmt: skip


def write_kubeconfig(path: Path, server: str, ca_pem: bytes, user: dict[str, Any]) -> Path:
    """A kubeconfig for one cluster (trusting `ca_pem`), one user and namespace `default`."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "emulator", "cluster": {"server": server,
                                                     "certificate-authority-data": base64.b64encode(ca_pem).decode()}}],
        "users": [{"name": "emulator", "user": user}],
        "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "emulator",
                                                     "namespace": "default"}}],
        "current-context": "emulator",
    }  # fmt: skip
    path.write_text(yaml.safe_dump(config))
    return path


ACCEPTED = ("client-certificate", "exec-plugin")
"""Auth methods that the tests show work beside the plain token."""
REFUSED = ("wrong-token", "no-credential", "untrusted-certificate", "exec-plugin-wrong-token")
"""Credentials the emulated API server must refuse."""


def user_for(method: str, credentials: ClusterCredentials, folder: Path) -> dict[str, Any]:
    """The kubeconfig user for one of ACCEPTED or REFUSED."""
    match method:
        case "client-certificate":
            return certificate_user(credentials.client)
        case "exec-plugin":
            return exec_user(folder, credentials.token)
        case "wrong-token":
            return token_user(secrets.token_urlsafe(24))
        case "no-credential":
            return {}
        case "untrusted-certificate":
            return certificate_user(Authority("another-ca").issue("intruder", organization="system:masters"))
        case "exec-plugin-wrong-token":
            return exec_user(folder, secrets.token_urlsafe(24))
    raise ValueError(f"unknown auth method {method}")
