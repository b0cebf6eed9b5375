"""Faust settings that faust-streaming does not expose."""

from __future__ import annotations

import types


def set_consumer_fetch_max_wait(milliseconds: int) -> None:
    """Bound how long a fetch may wait for data.

    faust-streaming 0.15 hard-codes ``fetch_max_wait_ms=1500`` for its worker consumer. Apache
    Kafka answers a fetch as soon as one byte is there, but brokers that wait the whole
    interval (tansu, the embedded default) add up to 1.5 s to every quiet turn. This swaps the
    consumer class the aiokafka driver instantiates for one with a shorter wait.
    """
    import aiokafka
    import faust.transport.drivers.aiokafka as driver

    class BoundedWaitConsumer(aiokafka.AIOKafkaConsumer):
        def __init__(self, *args, **kwargs):  # noqa: ANN002, ANN003
            kwargs["fetch_max_wait_ms"] = milliseconds
            super().__init__(*args, **kwargs)

    real = aiokafka if isinstance(driver.aiokafka, types.ModuleType) else driver.aiokafka.__wrapped__
    proxy = types.SimpleNamespace(**{k: getattr(real, k) for k in dir(real) if not k.startswith("__")})
    proxy.AIOKafkaConsumer = BoundedWaitConsumer
    proxy.__wrapped__ = real
    driver.aiokafka = proxy
