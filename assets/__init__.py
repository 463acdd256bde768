"""Software-defined assets, one module per stage, every one partitioned per video.

Each asset is thin glue: it reads the video's facts, calls the plain functions in
``vidmine`` and the resources, writes its rows in one transaction and returns a
``MaterializeResult`` with the metadata a person wants to see in the UI.
"""
