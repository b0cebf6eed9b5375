"""The reviewer console: an alert store fed from the alerts and turns topics, and a web UI where
on-call reviewers acknowledge, resolve and judge alerts (verdicts go to ``turnwatch.verdicts``)."""
