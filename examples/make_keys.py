# Make CurveZMQ keys for examples/secure_server.py and examples/secure_client.py.
#
#     python examples/make_keys.py keys [CLIENT_IDENT ...]      (default ident: client)
#
# writes, with zmq.auth.create_certificates (nothing hand-rolled):
#     keys/server.key, keys/server.key_secret                the listener's key pair
#     keys/clients/IDENT.key, keys/clients/IDENT.key_secret  one key pair per client
# A listener with allowed_clients_dir="keys/clients" lets the key in IDENT.key connect
# as the ident IDENT only (the file name is the binding); it never reads the
# .key_secret files. In a real deployment each client keeps its own .key_secret,
# and the server gets only the public .key files.
import os
import sys

import zmq.auth


def make_keys(directory, client_idents):
    clients = os.path.join(directory, "clients")
    os.makedirs(clients, exist_ok=True)
    written = list(zmq.auth.create_certificates(directory, "server"))
    for ident in client_idents:
        written += zmq.auth.create_certificates(clients, ident)
    return written


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python examples/make_keys.py KEY_DIR [CLIENT_IDENT ...]")
    for path in make_keys(sys.argv[1], sys.argv[2:] or ["client"]):
        print(path)
