"""What the tests, the demo and the crash test share: workers started as child processes and read
through their metrics, and a counting webhook receiver."""
