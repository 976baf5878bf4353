"""The simulated operator world: clock, city, cells, population, consent, mobility, presence, devices.

A synchronous, vectorised model. It imports no aiohttp, asyncio, sqlite or wire models.
"""
