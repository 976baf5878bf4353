"""Triggered chains: the service behind ``/journeys/v1`` and the engine that runs them on the simulated clock.

A partner defines a journey: a trigger, a chain of steps (message kind, channel, text or approved template,
delay) and stop conditions. Each subscriber a trigger selects becomes a *recipient* and walks the chain; every
step is a direct message sent through :meth:`gateway.services.messages.MessageService.send`, so every rule of its kind
applies unchanged (sender approval, templates, advertising consent, quiet hours and the shared daily cap for
``PROMO``, blocks, time to live, retries, fallback). This module adds no message rule of its own.

Triggers (the trigger instant is what delays count from):

* ``SUBSCRIBER_JOINED``: a new line of this operator is activated (:mod:`simulator.lifecycle`: a Poisson
  process of new subscriptions at the rate behind the tenures, drawn per simulated hour from the stream
  ``("line-activation", h)``; a test subscriber added through the admin API joins when it is added). Instant:
  the activation.
* ``ROAMING_ARRIVAL``: an inbound roamer's first network contact after the journey starts, i.e. the first
  moment the network hears its device: a cell change, or its periodic update (every 54 minutes, each device
  with its own phase, :meth:`simulator.world.World.next_periodic_contacts`). The visitors in the country when the
  journey starts are each met within the hour after it, as an operator switching on a welcome service does; those
  abroad then are met when they land (attaching to the network is a cell change, :mod:`simulator.roaming`); a
  roaming test phone added later arrives when it is added.
* ``AREA_ENTERED``: the first move of a subscriber from a cell outside the area into one inside (subscribers
  already inside when the journey is created have not entered). Incremental: only the tick's movers are examined,
  with one cells → journeys index (:func:`gateway.services.targeting.entered`).
* ``EVENT_REMINDER``: the partner enrols numbers of its own customers, each with an event instant; step delays
  count from the event and may be negative (a reminder the day before). Steps already past at enrolment are
  ``TOO_LATE``.

A subscriber is a recipient of a journey at most once (an enrolment is a recipient of its own). Step delays
count from the trigger (``after: TRIGGER``) or from the previous step's instant (``PREVIOUS_STEP``); step
instants never decrease. A step is sent at its instant (:meth:`simulator.clock.SimClock.schedule`), or at the
tick that finds the trigger when that instant has passed (triggers are evaluated once per tick).

Stop conditions: ``maxRecipients`` (later triggers are ignored; enrolments refused), ``endTime`` (no recipient
triggered from then on, no step due from then on: ``JOURNEY_ENDED``), ``onAreaExit`` (``AREA_ENTERED``: the
rest of a recipient's chain stops when it leaves the area: ``LEFT_AREA``), ``onConsentWithdrawn`` (the rest
stops when the subscriber withdraws advertising consent: ``CONSENT_WITHDRAWN``), and cancellation
(``CANCELLED``). Each step's outcome is a ``journey_steps`` row: the message it sent (whose status is the
message's), ``REFUSED`` (the send was refused, e.g. the sender was revoked since) or ``STOPPED`` with the reason.

Privacy: recipients selected by the operator are never disclosed; their messages are hidden from the partner's
``GET /messages`` (``origin``). Reports are per-step aggregates with the campaigns' privacy threshold.

Restart: journeys, enrolments and cancellation instants live in SQLite and become visible to the engine once
the clock passes their creation instant, so the replay of a restarted gateway re-runs them at the same ticks and
rebuilds every chain (pending steps wait on the clock again). A join or a move counts for the journeys created
strictly before its instant (at the creation instant, whether the request came first is not in the journal).
A step already recorded is not sent again (its row says what came of it; the message carries on by itself,
:mod:`gateway.services.messages`), messages are sent with deterministic idempotency keys, records are
``INSERT OR IGNORE``, and events are not emitted again during the replay. This package knows nothing of HTTP.

Layout: :mod:`.model` (triggers, requests, views, reports, errors), :mod:`.repository` (the SQL), :mod:`.service`
(:class:`JourneyService`: checks, storage, enrolments, reports, events) and :mod:`.engine` (the tick engine:
live journeys, triggers, chains, enrolments, stop conditions, hourly reports). Import from the modules.
"""
