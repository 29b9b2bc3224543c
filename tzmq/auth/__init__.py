"""ZAP authentication (ZeroMQ RFC 27) for NULL, PLAIN, CURVE and GSSAPI.

`ZAPPolicy` (in `tzmq.auth.zap`) is the protocol and the policy with no
socket I/O; `CertificateStore` and `PasswordFile` keep CURVE keys and PLAIN
passwords current as their files change.

Thread-safety: see each module; everything runs on one thread.
"""

from .certs import CertificateStore, create_certificates, load_certificate, load_certificates
from .passwords import PasswordFile
from .zap import CURVE_ALLOW_ANY, CredentialsProvider, Decision, PendingDecision, ZAPPolicy

__all__ = [
    "CURVE_ALLOW_ANY",
    "CertificateStore",
    "CredentialsProvider",
    "Decision",
    "PasswordFile",
    "PendingDecision",
    "ZAPPolicy",
    "create_certificates",
    "load_certificate",
    "load_certificates",
]
