# The seed server with CurveZMQ: encrypted, and only allowed client keys get in.
#
#     snakezmq keys keys client                               # once: server + "client" keys
#     python examples/secure_server.py [RUNTIME_SECONDS [PORT [KEY_DIR]]]
#
# The key in keys/clients/client.key may connect, as the ident "client" only (the
# file name is the ident bound to that key). Without RUNTIME the server runs forever.
import json
import logging
import os
import sys
import time

import snakezmq as snakemq
import snakezmq.link
import snakezmq.messaging
import snakezmq.packeter
from snakezmq.security import CurveConfig

RUNTIME = float(sys.argv[1]) if len(sys.argv) > 1 else None
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 8766
KEYS = sys.argv[3] if len(sys.argv) > 3 else "keys"

logging.basicConfig(format="[%(asctime)s] %(levelname)s [%(name)s:%(lineno)s] %(message)s")
logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)

link = snakemq.link.Link()
packeter = snakemq.packeter.Packeter(link)
messaging = snakemq.messaging.Messaging("server", "", packeter)
# snakemq: link.add_listener(("0.0.0.0", PORT), ssl_config=SSLConfig(...)); with CurveZMQ:
curve = CurveConfig.from_files(os.path.join(KEYS, "server.key_secret"),
                               allowed_clients_dir=os.path.join(KEYS, "clients"))
link.add_listener(("0.0.0.0", PORT), ssl_config=curve)


def on_recv(conn, ident, message):
    logger.info(f"server received: {message.data}, from: {ident}")


messaging.on_message_recv.add(on_recv)

message = snakemq.message.Message(json.dumps({"type": "execute", "value": "abc"}).encode("utf-8"), ttl=600)
messaging.send_message("client", message)

try:
    link.loop(runtime=RUNTIME)  # RUNTIME None: forever
    time.sleep(0.1)
finally:
    link.cleanup()  # also stops the ZAP authenticator thread
