"""Targeted campaigns, split by concept.

:mod:`~gateway.services.campaigns.model` (requests, views, reports, records, ids, errors),
:mod:`~gateway.services.campaigns.repository` (the campaign tables, their migrations and SQL),
:mod:`~gateway.services.campaigns.service` (``CampaignService``: create, estimate, read, cancel, report) and
:mod:`~gateway.services.campaigns.engine` (``CampaignEngine``: the campaigns run inside world ticks).
Import names from the module that owns them.
"""
