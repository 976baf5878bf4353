"""CAMARA API handlers, one module per API; the services they call live in
:mod:`gateway.services.camara`.
"""
