"""The worker at run time: the monitor pipeline, ingest, delivery, web surface and broker plumbing."""
