"""What a load balancer and an operator watch: liveness, readiness and Prometheus metrics.

Every long-running server (`intake web`, `intake telegram --webhook`) answers:

- `/healthz`: the process serves requests (no database asked: a database that is down is no
  reason to restart every instance);
- `/readyz`: it can do its work now: the database answers and its schema is the one this
  version needs. A failure says no more than 503; the reason goes to the log;
- `/metrics`: Prometheus text (prometheus-client): turns handled and their latency, the reply
  and notification outboxes' backlog, notifications failing, the speech queue. It tells an
  outsider how busy the service is, so it answers only a client on a network of
  INTAKE_METRICS_FROM (loopback unless set), as the web's guard resolves it behind a trusted
  proxy; through a proxy the web does not trust (a request it forwarded) it is not found.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from storage.database import SchemaError, require_current_schema
from storage.repository import Store

log = logging.getLogger(__name__)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))

# One registry per process: every server of the process reports the same turns.
REGISTRY = CollectorRegistry()
TURNS = Counter("intake_turns", "Inputs handled (one turn each)", ["channel"], registry=REGISTRY)
TURN_SECONDS = Histogram(
    "intake_turn_seconds",
    "Time to handle one input, its transaction included",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)


@contextlib.contextmanager
def turn(channel: str) -> Iterator[None]:
    """Count one turn of `channel` and how long it took (a failed one counts too)."""
    began = time.perf_counter()
    try:
        yield
    finally:
        TURNS.labels(channel).inc()
        TURN_SECONDS.labels(channel).observe(time.perf_counter() - began)


class _Backlog(Collector):
    """What waits in the database, read when scraped: the same figures on every instance."""

    def __init__(self, store: Store, speech_waiting: Callable[[], int] | None) -> None:
        self.store, self.speech_waiting = store, speech_waiting

    def collect(self) -> Iterator[GaugeMetricFamily]:
        backlog = self.store.run(lambda records: records.backlog())
        replies = GaugeMetricFamily("intake_outbox_replies", "Replies to people not sent yet")
        replies.add_metric([], backlog["replies"])
        yield replies
        notifications = GaugeMetricFamily(
            "intake_notifications_waiting", "Notifications not delivered yet", labels=["status"]
        )
        for status in ("pending", "failing"):
            notifications.add_metric([status], backlog[status])
        yield notifications
        if self.speech_waiting is not None:
            speech = GaugeMetricFamily("intake_speech_queue", "Recordings waiting to be transcribed here")
            speech.add_metric([], self.speech_waiting())
            yield speech


class Health:
    """The three endpoints, for one process's store."""

    def __init__(
        self,
        store: Store,
        *,
        metrics_from: tuple[Network, ...] = LOOPBACK,
        speech_waiting: Callable[[], int] | None = None,
    ) -> None:
        self.store = store
        self.metrics_from = metrics_from
        self.registry = CollectorRegistry()
        self.registry.register(_Backlog(store, speech_waiting))

    def routes(self) -> list[Route]:
        return [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
        ]

    @staticmethod
    def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(self, request: Request) -> Response:
        try:
            await asyncio.to_thread(require_current_schema, self.store.engine)
        except SchemaError as error:
            log.warning("not ready: %s", error)
            return PlainTextResponse("not ready\n", status_code=503)
        except Exception as error:  # the database cannot be reached: which way is for the log
            log.warning("not ready: the database: %s", type(error).__name__)
            return PlainTextResponse("not ready\n", status_code=503)
        return PlainTextResponse("ok\n")

    async def metrics(self, request: Request) -> Response:
        if not self._may_watch(request):
            return Response(status_code=404)
        body = await asyncio.to_thread(lambda: generate_latest(REGISTRY) + generate_latest(self.registry))
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    def _may_watch(self, request: Request) -> bool:
        """The client (the guard's, behind a trusted proxy; else the connection's) is on a watching
        network, and no proxy the server does not trust forwarded the request."""
        state: dict[str, Any] = request.scope.get("state", {})
        if "address" in state:  # the web's guard resolved it
            address, vouched = state["address"], not state["untrusted_proxy"]
        else:  # the webhook's server trusts no proxy
            address = request.client.host if request.client else ""
            vouched = "x-forwarded-for" not in request.headers
        if not vouched:
            return False  # a proxy forwarded it, and nothing here vouches for who asked
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.metrics_from)
