"""The bundled demo: sample sources and the loopback HTTP server that serves them."""

from aggregator.demo.server import LoopbackServer

__all__ = ["LoopbackServer"]
