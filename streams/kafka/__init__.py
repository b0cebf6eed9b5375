"""Kafka plumbing every part shares: the embedded broker, reachability probes, security options,
Faust tuning, topic creation and the child processes turnwatch starts."""
