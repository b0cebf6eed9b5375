"""turnwatch stream layer: Faust app, topics, agents, ingestion, sinks and CLI."""

__version__ = "0.1.0"
