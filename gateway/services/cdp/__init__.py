"""The partner's customer data platform: ``model`` (sources, normalised calls, notices), ``profiles`` (identity
resolution per partner), ``audiences`` (the condition language and incremental columnar membership),
``repository`` (the CDP tables and the event log) and ``service`` (one ingestion pipeline for Segment-spec calls
and simulated app events, profiles, audiences, restart from the log).
"""
