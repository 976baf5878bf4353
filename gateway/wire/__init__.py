"""The wire format: pydantic request and response models, camelCase, strict.

Owns the shapes partners see. It imports nothing but pydantic and the standard library: no HTTP, no
store, no simulator.
"""
