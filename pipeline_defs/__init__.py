"""The Dagster code location of vidmine: definitions, partitions, jobs and the CLI."""
