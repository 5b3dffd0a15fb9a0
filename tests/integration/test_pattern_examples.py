"""The README's work-queue and pub/sub examples run and show what they promise."""
from __future__ import annotations

from .test_examples import run_example


def test_workqueue_example_completes_every_job_once_despite_a_killed_worker():
    result = run_example("workqueue.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "killing worker-1 in the middle of its job" in result.stdout
    assert "producer: 12 of 12 jobs done, each once" in result.stdout


def test_pubsub_example_delivers_every_price_to_the_subscriber_that_left():
    result = run_example("pubsub.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all-desk: leaving after 5 prices" in result.stdout
    assert "received: {'eur-desk': 20, 'all-desk': 30}" in result.stdout
