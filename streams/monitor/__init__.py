"""The monitor: the Faust app wiring, the agent that updates each conversation's state and runs the
detectors, the pipeline it calls, episodes, held writes, the state table, and the worker process."""
