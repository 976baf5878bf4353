"""CAMARA network APIs: one module per API (thin handlers), with the services they call beside them."""
