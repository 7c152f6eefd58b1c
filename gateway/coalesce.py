"""Single requests sent on together: the requests that arrive while the earlier ones are still with
their service go to it in one batch call (issue 12: one gRPC call and one transaction per order was
most of the edge's cost per order).

A route hands its message to a Coalescer and waits for its own answer. A few sender threads take what
is waiting: one message alone goes by the single call, exactly as before; several go together by the
batch call, grouped by who sends them. Nothing waits for company: under light load every request goes
alone at once, under heavy load the batches grow by themselves, up to `most` per call."""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any

from prometheus_client import Histogram

SENT_TOGETHER = Histogram("hub_gateway_coalesced_requests", "Requests a gateway sent on to a service in one call",
                          ["call"], buckets=(1, 2, 5, 10, 20, 50, 100, 200))


class Coalescer:
    """`one(group, item)` answers one item (or raises); `many(group, items)` answers several at once:
    per item its answer, or the exception that item's caller gets. `group`: items that may share a
    call (the same user)."""

    def __init__(self, name: str, one: Callable[[Hashable, Any], Any],
                 many: Callable[[Hashable, list], list], most: int, senders: int = 2):
        self.name, self.one, self.many, self.most, self.senders = name, one, many, max(1, most), senders
        self._waiting: queue.SimpleQueue = queue.SimpleQueue()
        self._started = False
        self._lock = threading.Lock()

    def send(self, group: Hashable, item) -> Any:
        """This item's answer, once a sender has sent it (alone or with others)."""
        if self.most == 1:
            return self.one(group, item)
        self._start()
        answer: Future = Future()
        self._waiting.put((group, item, answer))
        return answer.result()

    def _start(self) -> None:
        if self._started:
            return
        with self._lock:
            if not self._started:
                for i in range(self.senders):
                    threading.Thread(target=self._send_waiting, name=f"{self.name}-{i}", daemon=True).start()
                self._started = True

    def _send_waiting(self) -> None:
        while True:
            taken = [self._waiting.get()]
            while len(taken) < self.most:
                try:
                    taken.append(self._waiting.get_nowait())
                except queue.Empty:
                    break
            groups: dict[Hashable, list] = {}
            for entry in taken:
                groups.setdefault(entry[0], []).append(entry)
            for group, entries in groups.items():
                self._send(group, entries)

    def _send(self, group: Hashable, entries: list) -> None:
        SENT_TOGETHER.labels(self.name).observe(len(entries))
        try:
            if len(entries) == 1:
                answers = [self.one(group, entries[0][1])]
            else:
                answers = self.many(group, [item for _, item, _ in entries])
                if len(answers) != len(entries):
                    raise RuntimeError(f"{self.name}: {len(answers)} answers to {len(entries)} requests")
        except BaseException as exc:  # the call failed as a whole: every caller gets its failure
            answers = [exc] * len(entries)
        for (_, _, answer), outcome in zip(entries, answers):
            if isinstance(outcome, BaseException):
                answer.set_exception(outcome)
            else:
                answer.set_result(outcome)
