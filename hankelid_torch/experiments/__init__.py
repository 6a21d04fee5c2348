"""Experiment harness: tasks, training, statistics, reports and the hankelid-bench CLI."""
