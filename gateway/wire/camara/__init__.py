"""Wire models of the CAMARA APIs, one module per API."""
