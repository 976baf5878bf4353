"""Direct messages: the service behind ``/messages/v1`` (a partner's message to one number it supplies).

Rules per kind (the send instant is the acceptance, then every retry; all times simulated):

* ``PROMO`` follows exactly the campaign policy (:func:`gateway.services.policy.decide` with the campaign rules):
  ``ADVERTISING`` consent for the channel at the send instant, quiet hours in the subscriber's local time (held
  until they end while the time to live allows, else ``SUPPRESSED QUIET_HOURS``) and the operator daily cap
  shared with campaigns (:class:`gateway.services.caps.FrequencyCaps`: one count per subscriber and local day, whoever
  sent). The text is moderated like a campaign's.
* ``TRANSACTIONAL`` and ``INFORMATIONAL`` need no advertising consent, know no quiet hours and no cap, but a
  subscriber's block of the sender (or of every sender of the partner) suppresses them (``SENDER_BLOCKED``);
  blocks apply to ``PROMO`` too.
* ``AUTHENTICATION`` must use a template the operator approved for the partner and that kind, filled with
  ``templateParameters`` (``{code}`` is required); its priority is ``HIGH`` and its time to live short
  (``auth_default_ttl_s``, at most ``auth_max_ttl_s``). A code the user asked for is not stopped by a block.

Every message needs a sender name the operator approved for the partner. ``PUSH`` needs the operator's app
(``NO_APP``); ``PUSH_THEN_SMS`` sends an SMS when the push is not delivered within ``push_fallback_s``. An
unreachable phone is tried again (every 60 s for ``HIGH``, every ``retry_s`` otherwise) until the message
expires. Latency and losses are :func:`gateway.services.delivery.simulate` with the stream ``("message-delivery", n,
k)``.

Status history: ``ACCEPTED`` → (``HELD``) → ``SENT`` (per channel) → ``DELIVERED`` | ``FAILED``, or
``EXPIRED`` (time to live over before delivery) or ``SUPPRESSED`` (a rule refused it; with the reason). Each
change is a ``message_events`` row and, when the message names a ``callback`` sink, a CloudEvent
``org.opsim.messages.v1.message-status`` put in the webhook outbox in the same transaction (one outbox lane per
message, ids ``<messageId>-<n>``). The partner sees only its message's status, never the subscriber's profile.
This module knows nothing of HTTP.

Restart durability: messages and their status history are rows; a restart rebuilds the rest from them rather
than re-deciding (blocks, approvals and consent may have changed since, and the rows say what came of each
message). While the world is replayed (:meth:`MessageService.replay`), each message that reached a device is put
back in its inbox at the instant it arrived, and each ``PROMO`` send is counted again into the shared daily cap at
the instant it was sent (after that instant's tick when the request itself sent it, as live), so inboxes and the
campaigns' cap decisions in the replay are those of the first run. What a message still waits for (expiry, a
retry, the end of quiet hours, an arrival, the SMS fallback) is a durable wake-up (:mod:`gateway.core.timers`) that
:meth:`MessageService.resume` puts back on the clock: a message in flight when the gateway stopped completes when
it would have.

Layout: :mod:`.model` (kinds, errors, requests and views, template filling), :mod:`.repository` (the SQL),
:mod:`.service` (:class:`MessageService`: registrations, blocks, checks, accepting and reading),
:mod:`.engine` (delivery attempts, retries, wake-ups, the restart). Import from the modules.
"""
