"""The bystander of a flood soak: another tenant polling ``/healthz``, in a process of its own.

A thread in the flooding process would not do: it shares that process's interpreter lock with
the clients doing the flooding, and each of its requests would wait on them (hundreds of
milliseconds while they open connections), which is the soak's own delay, not the server's.
"""

from __future__ import annotations

import multiprocessing
import time
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event

import httpx

INTERVAL = 0.05


def _poll(url: str, key: str, stop: Event, results: Connection) -> None:
    samples: list[float] = []
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=None) as http:
        http.get("/healthz")  # the connection is opened before the measurement starts
        results.send("ready")
        while not stop.is_set():
            started = time.perf_counter()
            http.get("/healthz")
            samples.append(time.perf_counter() - started)
            stop.wait(INTERVAL)
    results.send(samples)


class HealthProbe:
    """``GET /healthz`` every 50 ms from a process of its own, from :meth:`start` to
    :meth:`stop`, which returns each request's latency in seconds."""

    def __init__(self, url: str, key: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._results, child_end = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_poll, args=(url, key, self._stop, child_end), daemon=True
        )

    def start(self) -> None:
        """Start polling; returns once the probe's connection is open."""
        self._process.start()
        if self._results.recv() != "ready":
            raise RuntimeError("the /healthz probe did not start")

    def stop(self) -> list[float]:
        """Stop polling; every sample taken."""
        self._stop.set()
        samples: list[float] = self._results.recv()
        self._process.join(10)
        return samples
