"""CurveZMQ for snakezmq: encryption, client authentication, and idents bound to keys.

snakemq's ``SSLConfig`` is replaced by a :class:`CurveConfig`, passed in the same
``ssl_config`` slot of ``Link.add_listener`` and ``Link.add_connector``::

    curve = CurveConfig.from_files("keys/server.key_secret", allowed_clients_dir="keys/clients")
    link.add_listener(("", 4000), ssl_config=curve)

    curve = CurveConfig.from_files("keys/clients/alice.key_secret", server_public_file="keys/server.key")
    link.add_connector(("server.example", 4000), ssl_config=curve)

Keys are made and read by pyzmq's ``zmq.auth`` only (``create_certificates``,
``load_certificate``); ``snakezmq keys DIR IDENT...`` makes a listener's key pair and its
clients' (see :func:`create_key_pair`).

What a secure listener guarantees:

- Every byte on the wire is encrypted (CURVE): nothing of a message appears in
  plaintext, and a client that does not know the server's public key cannot
  complete the handshake.
- Only allowlisted client keys get a connection at all. A client with an unknown
  key, with no key (plaintext), or with the wrong server key gets nothing through;
  the listener logs why (at ERROR, at most once a minute per kind of failure).
- Each client key is bound to the ident(s) it may use. A connector's ident is its
  ZeroMQ routing id; the listener checks it against the key on the link handshake
  (HELLO and PROBE), refuses another ident with REFUSE ``"ident"``, logs ERROR
  naming the key and the claimed ident, and the refused connector logs ERROR and
  reports ``ConnectionRefused`` through ``on_error``.

The allowlist directory: every ``*.key`` file in it (a public certificate written
by ``zmq.auth.create_certificates(directory, name)``) allows that public key to
connect **as the ident given by the file name** (``alice.key`` -> ``"alice"``).
The file name is the binding (not certificate metadata) because it is what
``create_certificates(dir, name)`` already writes, and ``zmq.auth`` offers no
metadata reader. Copy a ``.key`` file to a second name to allow a second ident for
the same key. ``*.key_secret`` and other files are ignored. The directory is read
once, when the CurveConfig is made.

In code, ``allowed_clients`` maps a public key (Z85 text, as in the certificate
files, or 32 raw bytes) to one ident, a collection of idents, or :data:`ANY_IDENT`
(the key is allowed, with any ident: for raw Links without Messaging).
"""
from __future__ import annotations

import glob
import itertools
import os
from typing import Any, Dict, FrozenSet, Iterable, Mapping, Optional, Tuple, Union

from ._transport.curve import create_certificate, has_curve, load_certificate, short_key, z85_key

Key = Union[bytes, str]


class _AnyIdent:
    def __repr__(self) -> str:
        return "ANY_IDENT"


#: ``allowed_clients`` value: this key may connect with any ident (its ident is not bound)
ANY_IDENT: Any = _AnyIdent()
_domains = itertools.count(1)


def normalize_key(key: Key, what: str = "key") -> bytes:
    """A CURVE key as 40 bytes of Z85 text (``zmq.auth``'s format); raises ValueError otherwise."""
    if isinstance(key, str):
        key = key.encode("ascii", "replace")
    if not isinstance(key, bytes):
        raise TypeError("%s must be bytes or str, not %s" % (what, type(key).__name__))
    z85_text = z85_key(key)
    if z85_text is not None:
        return z85_text
    raise ValueError("%s is not a CURVE key: expected 40 characters of Z85 (as written by "
                     "zmq.auth.create_certificates) or 32 raw bytes" % what)


def _idents(value: Any, key: bytes) -> Union[FrozenSet[str], Any]:
    if value is ANY_IDENT:
        return ANY_IDENT
    idents = frozenset([value] if isinstance(value, str) else value)
    if not idents or not all(isinstance(i, str) and i for i in idents):
        raise ValueError("allowed_clients[%s]: give one ident, a collection of non-empty idents, "
                         "or ANY_IDENT" % short_key(key))
    return idents


def create_key_pair(directory: str, name: str) -> Tuple[str, str]:
    """Make a CURVE key pair with ``zmq.auth.create_certificates``: ``directory/name.key``
    (public, for the other side) and ``name.key_secret`` (both keys, for this side only).
    Returns their paths. ``snakezmq keys`` makes a listener's and its clients' pairs."""
    os.makedirs(directory, exist_ok=True)
    return create_certificate(directory, name)


class CurveConfig:
    """CurveZMQ settings for one side: pass it as ``ssl_config`` to ``add_listener`` / ``add_connector``.

    :param public_key: this side's public key (Z85 text or 32 raw bytes)
    :param secret_key: this side's secret key
    :param server_public_key: connectors: the listener's public key
    :param allowed_clients: listeners: ``{client public key: ident | [idents] | ANY_IDENT}``;
        a listener refuses every client key not in it. ``None`` (the default) means
        "not a listener config" and ``add_listener`` raises ValueError.
    """

    def __init__(self, public_key: Key, secret_key: Key, server_public_key: Optional[Key] = None,
                 allowed_clients: Optional[Mapping[Any, Any]] = None) -> None:
        if not has_curve():
            raise RuntimeError("this libzmq was built without CURVE support")
        self.public_key = normalize_key(public_key, "public_key")
        self.secret_key = normalize_key(secret_key, "secret_key")  #: never in repr()
        self.server_public_key = (None if server_public_key is None
                                  else normalize_key(server_public_key, "server_public_key"))
        self.allowed_clients: Optional[Dict[bytes, Any]] = None
        if allowed_clients is not None:
            self.allowed_clients = {}
            for key, value in allowed_clients.items():
                z85_key = normalize_key(key, "allowed_clients key")
                self.allowed_clients[z85_key] = _idents(value, z85_key)
        #: the ZAP domain of this config's listeners (one ZAP handler serves the whole process)
        self.zap_domain = "snakezmq-curve-%d" % next(_domains)

    @classmethod
    def from_files(cls, secret_file: str, server_public_file: Optional[str] = None,
                   allowed_clients_dir: Optional[str] = None) -> "CurveConfig":
        """Load keys written by ``zmq.auth.create_certificates``.

        :param secret_file: this side's ``NAME.key_secret`` (holds both its keys)
        :param server_public_file: connectors: the listener's ``NAME.key``
        :param allowed_clients_dir: listeners: a directory of client ``IDENT.key`` files
            (each allows that key to connect as IDENT, see :meth:`load_allowed_clients`)
        """
        public, secret = load_certificate(secret_file)
        if secret is None:
            raise ValueError("%s holds no secret key; pass this side's .key_secret file "
                             "(written by zmq.auth.create_certificates)" % secret_file)
        server = None
        if server_public_file is not None:
            server, _ = load_certificate(server_public_file)
        allowed = None if allowed_clients_dir is None else cls.load_allowed_clients(allowed_clients_dir)
        return cls(public, secret, server_public_key=server, allowed_clients=allowed)

    @staticmethod
    def load_allowed_clients(directory: str) -> Dict[bytes, FrozenSet[str]]:
        """``{public key: idents}`` from the ``IDENT.key`` public certificates in ``directory``."""
        if not os.path.isdir(directory):
            raise ValueError("allowed clients directory %r does not exist" % directory)
        allowed: Dict[bytes, FrozenSet[str]] = {}
        for path in sorted(glob.glob(os.path.join(glob.escape(directory), "*.key"))):
            public, _ = load_certificate(path)
            ident = os.path.basename(path)[:-len(".key")]
            allowed[public] = allowed.get(public, frozenset()) | {ident}
        return allowed

    def __repr__(self) -> str:  # never shows the secret key
        allowed = "-" if self.allowed_clients is None else "%d keys" % len(self.allowed_clients)
        server = short_key(self.server_public_key) if self.server_public_key else "-"
        return "CurveConfig(public_key=%s, server_public_key=%s, allowed_clients=%s)" % (
            short_key(self.public_key), server, allowed)

    # -- what Link checks before using it -----------------------------------------------

    def check_usable(self, endpoint: str, listening: bool) -> None:
        """Raise ValueError if this config cannot secure ``endpoint`` on this side."""
        if endpoint.startswith("inproc://"):
            raise ValueError("CurveZMQ does not apply to inproc:// endpoints (ZeroMQ does no "
                             "handshake in-process); use tcp:// or ipc:// with a CurveConfig")
        if listening and self.allowed_clients is None:
            raise ValueError("a listener's CurveConfig needs allowed_clients (or "
                             "from_files(..., allowed_clients_dir=...)): which client keys may connect")
        if not listening and self.server_public_key is None:
            raise ValueError("a connector's CurveConfig needs server_public_key (or "
                             "from_files(..., server_public_file=...)): the listener's public key")

    # -- decisions (ZAP handler thread and listener) -------------------------------------

    def allows_key(self, key: bytes) -> bool:
        """Whether a client's public key (Z85) may connect at all."""
        return self.allowed_clients is not None and key in self.allowed_clients

    def ident_refusal(self, key: Optional[str], ident: Optional[str]) -> Optional[str]:
        """Why a client authenticated as ``key`` may not use ``ident`` (None: it may).

        ``key`` is the message's ZAP User-Id (the client key in Z85, pyzmq's default
        ``curve_user_id``); ``ident`` is None when the connector announced none.
        """
        idents = None
        if key is not None and self.allowed_clients is not None:
            idents = self.allowed_clients.get(key.encode("ascii", "replace"))
        if idents is None:
            return "the connection has no allowed CURVE key"
        if idents is ANY_IDENT:
            return None
        if ident is None:
            return ("CURVE key %s may only connect as %s, and the connector announced no ident "
                    "(use Messaging, whose identifier is the ident)" % (short_key(key or ""), _names(idents)))
        if ident in idents:
            return None
        return "ident %r is not allowed for CURVE key %s (it may connect as %s)" % (
            ident, short_key(key or ""), _names(idents))


def _names(idents: Iterable[str]) -> str:
    return ", ".join(repr(i) for i in sorted(idents))
