"""vidmine core library: media processing, providers, storage and search.

Nothing in this package imports Dagster; the Dagster glue lives in ``assets/``,
``resources/``, ``sensors/`` and ``pipeline_defs/``.
"""
