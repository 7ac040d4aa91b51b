"""The task broker of this process, made once."""

import threading

from django_q.brokers import Broker, get_broker
from django_q.conf import Conf

_lock = threading.Lock()
_broker: Broker | None = None


def queue_broker() -> Broker | None:
    """The broker to pass to async_task (None: let it make its own).

    Without one, django-q2 makes a new broker for every task, which with Redis is a new
    client, a new connection and its handshake: about a millisecond of CPU on the path of
    every final status callback (each queues a fill). One per process instead; its
    connection pool reconnects after a fork and retries a connection Redis dropped. The ORM
    broker keeps no connection of its own, and sets up each use (it closes stale database
    connections first): it is left to make its own.
    """
    global _broker
    if Conf.ORM:
        return None
    if _broker is None:
        with _lock:
            if _broker is None:
                _broker = get_broker()
    return _broker
