"""Partner apps in the simulated world: the registry, the simulated installs of each app, and FCM-compatible push.

``model`` (what an app and an install are), ``installs`` (the columnar install table and its deterministic tokens),
``repository`` (the apps and push tables and their migrations), ``service`` (registering and reading apps) and
``push`` (sending, holding and delivering push messages, with the operator-side truth).
"""
