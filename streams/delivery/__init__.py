"""Delivering alerts to on-call reviewers: routing, cooldown, dedup, retries, sinks."""
