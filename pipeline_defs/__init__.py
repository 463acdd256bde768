"""The Dagster code location of vidmine: definitions and jobs. Production runs it under
Dagster's own launchers, this machine under :mod:`local_runtime`; it never imports the
runtime."""
