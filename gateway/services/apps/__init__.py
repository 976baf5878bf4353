"""Partner apps in the simulated world: the registry, the simulated installs of each app, and FCM-compatible push.

``model`` (what an app and an install are), ``installs`` (the columnar install table and its deterministic tokens),
``lifecycle`` (installs, uninstalls, token refreshes and permission changes over simulated days), ``repository``
(the apps and push tables and their migrations), ``service`` (registering and reading apps, the tick's lifecycle,
the event listeners), ``push`` (sending, holding and delivering push messages, with the operator-side truth),
``topics`` (FCM topic subscriptions and conditions), ``usage`` (what the installs do on each tick) and ``events``
(the columnar app event batch, the contract with the CDP).
"""
