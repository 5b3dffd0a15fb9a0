# The seed client with CurveZMQ (see secure_server.py).
#
#     python examples/secure_client.py [RUNTIME_SECONDS [PORT [KEY_DIR]]]
#
# Its ident "client" must be one the server allows for keys/clients/client.key.
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
messaging = snakemq.messaging.Messaging("client", "", packeter)
# snakemq: link.add_connector(("localhost", PORT), ssl_config=SSLConfig(...)); with CurveZMQ:
curve = CurveConfig.from_files(os.path.join(KEYS, "clients", "client.key_secret"),
                               server_public_file=os.path.join(KEYS, "server.key"))
link.add_connector(("localhost", PORT), ssl_config=curve)


def on_connect(connector_id):
    logger.info(f"Connected to: {connector_id}")


def on_error(conn_id, error):
    logger.error(f"error: {error}")


link.on_connect.add(on_connect)
messaging.on_error.add(on_error)


def on_recv(conn, ident, message):
    logger.info(f"client received: {message.data}, from: {ident}")


messaging.on_message_recv.add(on_recv)
message = snakemq.message.Message(json.dumps({"type": "status", "value": "ready"}).encode("utf-8"), ttl=600)
messaging.send_message("server", message)

try:
    link.loop(runtime=RUNTIME)  # RUNTIME None: forever
    time.sleep(0.1)
finally:
    link.cleanup()
