"""A work queue: one producer and three workers, each its own process.

    python examples/workqueue.py

The producer submits 12 jobs to the queue "thumbnails"; each worker takes one job at a
time (capacity 1) and needs 0.3 s for it. worker-1 starts first and is killed in the middle
of its first job; then worker-2 and worker-3 start: the producer gives the killed worker's
job to one of them, and every job is reported done once.
The roles are plain functions below: ``python examples/workqueue.py producer PORT`` and
``python examples/workqueue.py worker PORT NAME`` run one by hand.
"""
import subprocess
import sys
import threading
import time

import snakezmq.link
import snakezmq.messaging
import snakezmq.packeter
from snakezmq.workqueue import Producer, Worker

JOBS = 12


def stack(ident):
    link = snakezmq.link.Link()
    messaging = snakezmq.messaging.Messaging(ident, "", snakezmq.packeter.Packeter(link))
    return link, messaging


def producer(port):
    link, messaging = stack("producer")
    queue = Producer(messaging, "thumbnails")
    done = {}

    def on_job_done(job_id, result):
        done[job_id] = result
        print("producer: done %s" % result.decode(), flush=True)
        if len(done) == JOBS:
            link.stop()

    queue.on_job_done.add(on_job_done)
    queue.on_job_drop.add(lambda job_id: print("producer: dropped %s" % job_id.hex()))
    link.add_listener(("127.0.0.1", port))
    for n in range(JOBS):
        queue.submit(b"photo-%02d.jpg" % n, ttl=60)  # may wait up to 60 s for a worker
    link.loop(runtime=60)
    print("producer: %d of %d jobs done, each once" % (len(done), JOBS), flush=True)
    link.cleanup()


def worker(port, name):
    link, messaging = stack(name)
    queue = Worker(messaging, "thumbnails", capacity=1)

    def make_thumbnail(job_id, data):
        time.sleep(0.3)  # the work; the loop keeps running meanwhile
        queue.job_done(job_id, b"%s by %s" % (data, name.encode()))

    def on_job_recv(ident, job_id, data):
        print("%s: working on %s" % (name, data.decode()), flush=True)
        threading.Thread(target=make_thumbnail, args=(job_id, data)).start()

    queue.on_job_recv.add(on_job_recv)
    link.add_connector(("127.0.0.1", port))
    link.loop(runtime=60)


def main():
    """Start the producer and worker-1; kill worker-1 in the middle of its first job, then
    start worker-2 and worker-3."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    me = [sys.executable, "-u", __file__]
    lead = subprocess.Popen(me + ["producer", port], stdout=subprocess.PIPE, text=True)
    first = subprocess.Popen(me + ["worker", port, "worker-1"], stdout=subprocess.PIPE, text=True)
    killed = threading.Event()
    threading.Thread(target=echo, args=(first, killed), daemon=True).start()
    killed.wait(30)
    workers = [first] + [subprocess.Popen(me + ["worker", port, name], stdout=subprocess.PIPE,
                                          text=True) for name in ("worker-2", "worker-3")]
    for process in workers[1:]:
        threading.Thread(target=echo, args=(process, None), daemon=True).start()
    last = ""
    for line in lead.stdout:
        print(line, end="", flush=True)
        last = line
    lead.wait(70)
    for process in workers:
        process.kill()
        process.wait(10)
    return 0 if last.startswith("producer: %d of %d" % (JOBS, JOBS)) else 1


def echo(process, killed):
    """Print a worker's lines; ``killed``: SIGKILL it when it starts its first job, then set it."""
    for line in process.stdout:
        print(line, end="", flush=True)
        if killed is not None and "working on" in line:
            print("---- killing worker-1 in the middle of its job ----", flush=True)
            process.kill()
            killed.set()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "producer":
        producer(int(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker(int(sys.argv[2]), sys.argv[3])
    else:
        sys.exit(main())
