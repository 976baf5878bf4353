"""Scenario files, runner, reports and the `opsim` command line."""
