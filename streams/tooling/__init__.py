"""Tools around the worker: demo, evaluation, benchmarks, crash test, dashboards, schemas, training."""
