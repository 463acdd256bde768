"""vidmine's local runtime: what runs the code location on this machine.

- :mod:`local_runtime.cli`: the ``vidmine`` command (parsing and printing; the work is in
  ``vidmine`` and in the modules below);
- :mod:`local_runtime.launcher` and :mod:`local_runtime.run_worker`: runs forked from a warm
  process (the local instance's run launcher and run queue);
- :mod:`local_runtime.instance`: the local instance's generated ``dagster.yaml``, pool limits
  and the run and daemon views `vidmine serve` shows;
- :mod:`local_runtime.ingest`: ``vidmine ingest``, the job executed in this process.

Every private Dagster name the runtime uses is imported in one module,
:mod:`local_runtime.dagster_private`, which ``tests/test_runtime_contract.py`` checks
against the installed Dagster. The code location (``pipeline_defs``) never imports this
package: production runs it without the runtime (deploy/ uses Dagster's own launchers).
"""
