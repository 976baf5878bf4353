"""The wire format: pydantic request and response models, camelCase, strict.

Owns the shapes partners see and the vocabularies they are written in. It imports nothing but pydantic and the
standard library (and the accepted instant range from :mod:`simulator.clock`): no HTTP, no store, no world.
"""
