"""The processes of benchmarks/patterns.py: producers, workers, publishers, subscribers,
each for snakezmq and for raw ZeroMQ. Leaders (producer, publisher) take
``(results, ports, stop, count, followers)``; followers ``(port, group, stop, results)``.
Results are ``(kind, value)`` tuples: ``rate`` (jobs/s), ``start`` and ``last`` (a
subscriber's last delivery), on the system-wide monotonic clock.
"""
from __future__ import annotations

import multiprocessing as mp
import threading
import time
from typing import Any, List, Tuple

import zmq

import snakezmq.link
import snakezmq.messaging
import snakezmq.packeter
from snakezmq.pubsub import Publisher, Subscriber
from snakezmq.workqueue import Producer, Worker

PAYLOAD = b"x" * 100
HOST = "127.0.0.1"


def _stack(ident: str) -> Tuple[Any, Any]:
    link = snakezmq.link.Link()
    return link, snakezmq.messaging.Messaging(ident, "", snakezmq.packeter.Packeter(link))


def stopped(stop: Any) -> bool:
    """The run is over: the orchestrator said so, or it is gone (then so are we)."""
    parent = mp.parent_process()
    return bool(stop.is_set()) or (parent is not None and not parent.is_alive())


def _wait(stop: Any) -> None:
    while not stopped(stop):
        stop.wait(0.5)


def _loop_until(link: Any, condition: Any, stop: Any) -> None:
    while not condition() and not stopped(stop):
        link.loop(poll_timeout=0.05, runtime=0.05)


def _serve(link: Any, stop: Any) -> None:
    while not stopped(stop):
        link.loop(poll_timeout=0.05, runtime=0.2)
    link.linger = 0
    link.cleanup()


# -- work queue -------------------------------------------------------------------------------

def sz_producer(results: Any, ports: Any, stop: Any, jobs: int, workers: int) -> None:
    link, messaging = _stack("producer")
    producer = Producer(messaging, "bench")
    ports.put(link.add_listener((HOST, 0))[1])
    done: List[float] = []
    producer.on_job_done.add(lambda job_id, result: (done.append(0.0), len(done) == jobs and link.stop()))
    _loop_until(link, lambda: len(producer.workers) >= workers, stop)
    start = time.monotonic()
    for _ in range(jobs):
        producer.submit(PAYLOAD)
    while len(done) < jobs and not stopped(stop):
        link.loop(poll_timeout=0.05)
    results.put(("rate", jobs / (time.monotonic() - start)))
    _serve(link, stop)


def sz_worker(port: int, group: Tuple[str, int], stop: Any, results: Any) -> None:
    ident, capacity = group
    link, messaging = _stack(ident)
    worker = Worker(messaging, "bench", capacity=capacity)
    worker.on_job_recv.add(lambda producer, job_id, data: worker.job_done(job_id, data))
    link.add_connector((HOST, port), reconnect_interval=0.2)
    _serve(link, stop)


def raw_producer(results: Any, ports: Any, stop: Any, jobs: int, workers: int) -> None:
    context = zmq.Context()
    push, pull = context.socket(zmq.PUSH), context.socket(zmq.PULL)
    ports.put((push.bind_to_random_port("tcp://" + HOST), pull.bind_to_random_port("tcp://" + HOST)))
    for _ in range(workers):
        pull.recv()  # "ready": its PULL is connected
    time.sleep(0.2)  # (PUSH only round-robins over pipes it has attached: let them attach)
    poller = zmq.Poller()
    poller.register(pull, zmq.POLLIN)
    poller.register(push, zmq.POLLOUT)
    start, sent, received = time.monotonic(), 0, 0
    while received < jobs and not stopped(stop):
        for sock, _ in poller.poll(50):
            if sock is pull:
                pull.recv()
                received += 1
            elif sent < jobs:
                push.send(PAYLOAD)
                sent += 1
                if sent == jobs:
                    poller.unregister(push)
    results.put(("rate", jobs / (time.monotonic() - start)))
    _wait(stop)
    context.destroy(linger=0)


def raw_worker(ports: Tuple[int, int], group: Any, stop: Any, results: Any) -> None:
    context = zmq.Context()
    pull, push = context.socket(zmq.PULL), context.socket(zmq.PUSH)
    pull.connect("tcp://%s:%d" % (HOST, ports[0]))
    push.connect("tcp://%s:%d" % (HOST, ports[1]))
    push.send(b"ready")
    while not stopped(stop):
        if pull.poll(50):
            push.send(pull.recv())
    context.destroy(linger=0)



# -- publish/subscribe ----------------------------------------------------------------------

def sz_publisher(results: Any, ports: Any, stop: Any, messages: int, subscribers: int) -> None:
    link, messaging = _stack("publisher")
    publisher = Publisher(messaging, ttl=None, max_backlog=messages)
    subscribed: List[str] = []
    publisher.on_subscribe.add(lambda ident, prefixes: subscribed.append(ident))
    ports.put(link.add_listener((HOST, 0))[1])
    _loop_until(link, lambda: len(subscribed) >= subscribers, stop)
    start = time.monotonic()
    for _ in range(messages):
        publisher.publish("bench", PAYLOAD)
    results.put(("start", start))
    results.put(("rate", 0.0))
    _serve(link, stop)


def _sz_subscriber(port: int, ident: str, messages: int, stop: Any, results: Any) -> None:
    link, messaging = _stack(ident)
    subscriber = Subscriber(messaging, [""])
    count = [0]

    def on_message_recv(publisher: str, topic: str, message: Any) -> None:
        count[0] += 1
        if count[0] == messages:
            results.put(("last", time.monotonic()))
    subscriber.on_message_recv.add(on_message_recv)
    link.add_connector((HOST, port), reconnect_interval=0.2)
    _serve(link, stop)


def sz_subscribers(port: int, group: Tuple[List[str], int], stop: Any, results: Any) -> None:
    idents, messages = group
    threads = [threading.Thread(target=_sz_subscriber, args=(port, ident, messages, stop, results))
               for ident in idents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def raw_publisher(results: Any, ports: Any, stop: Any, messages: int, subscribers: int) -> None:
    context = zmq.Context()
    pub, pull = context.socket(zmq.PUB), context.socket(zmq.PULL)
    pub.sndhwm = 0  # (else PUB drops what a slow subscriber cannot take)
    ports.put((pub.bind_to_random_port("tcp://" + HOST), pull.bind_to_random_port("tcp://" + HOST)))
    ready = 0
    while ready < subscribers and not stopped(stop):  # subscriptions travel asynchronously:
        pub.send(b"warmup")  # each subscriber says "ready" once one reached it
        while pull.poll(10):
            pull.recv()
            ready += 1
    start = time.monotonic()
    for _ in range(messages):
        pub.send(PAYLOAD)
    results.put(("start", start))
    results.put(("rate", 0.0))
    _wait(stop)
    context.destroy(linger=0)


def raw_subscribers(ports: Tuple[int, int], group: Tuple[List[str], int], stop: Any, results: Any) -> None:
    idents, messages = group
    context = zmq.Context()
    push = context.socket(zmq.PUSH)
    push.connect("tcp://%s:%d" % (HOST, ports[1]))
    poller, counts = zmq.Poller(), {}
    for _ in idents:
        sub = context.socket(zmq.SUB)
        sub.rcvhwm = 0
        sub.subscribe(b"")
        sub.connect("tcp://%s:%d" % (HOST, ports[0]))
        poller.register(sub, zmq.POLLIN)
        counts[sub] = -1  # (-1: not ready yet)
    while not stopped(stop) and any(c < messages for c in counts.values()):
        for sock, _ in poller.poll(50):
            data = sock.recv()
            if data == b"warmup":
                if counts[sock] < 0:
                    counts[sock] = 0
                    push.send(b"ready")
                continue
            counts[sock] += 1
            if counts[sock] == messages:
                results.put(("last", time.monotonic()))
    _wait(stop)
    context.destroy(linger=0)
