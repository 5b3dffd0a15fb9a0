# The seed article's server (shared/seed/snakemq_scenario/server.py) on snakezmq.
# Changed from the snakemq original: the import lines, and an optional bounded
# runtime and port (python seed_server.py [RUNTIME_SECONDS [PORT]]) so the
# launcher can run it; with no arguments it behaves exactly like the original.
import json
import logging
import sys
import time

import snakezmq as snakemq  # was: import snakemq.* (this line and the three below)
import snakezmq.link
import snakezmq.messaging
import snakezmq.packeter
import snakezmq.rpc  # noqa: F401  (imported by the original script)

RUNTIME = float(sys.argv[1]) if len(sys.argv) > 1 else None
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 8765

logging.basicConfig(format="[%(asctime)s] %(levelname)s [%(name)s:%(lineno)s] %(message)s")
logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)

link = snakemq.link.Link()
packeter = snakemq.packeter.Packeter(link)
messaging = snakemq.messaging.Messaging("server", "", packeter)
link.add_listener(("0.0.0.0", PORT))


def on_recv(conn, ident, message):
    logger.info(f"server received: {message.data}, from: {ident}")


messaging.on_message_recv.add(on_recv)

message = snakemq.message.Message(json.dumps({"type": "execute", "value": "abc"}).encode("utf-8"), ttl=600)
messaging.send_message("client", message)

while True:
    link.loop(runtime=RUNTIME)  # RUNTIME None: forever, as in the original
    time.sleep(0.1)
    if RUNTIME is not None:
        link.cleanup()
        break
