"""The operator's partner-facing HTTP gateway (aiohttp) over a simulator World."""
