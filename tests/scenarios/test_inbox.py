"""The fake partner webhook receiver records real POSTs and answers with the status it is told to."""

from __future__ import annotations

import aiohttp

from scenarios.inbox import WebhookInbox


async def test_records_posts_and_statuses() -> None:
    inbox = WebhookInbox()
    await inbox.start()
    try:
        inbox.respond_with("/down", 503)
        async with aiohttp.ClientSession() as session:
            async with session.post(inbox.url("/hooks/a"), json={"type": "t.v1", "id": "1"},
                                    headers={"ce-type": "t.v1", "x-other": "dropped"}) as r:
                assert r.status == 204
            async with session.post(inbox.url("down"), data=b"not json") as r:
                assert r.status == 503
        await inbox.settle()
        first, second = inbox.received
        assert first.to_dict() == {"path": "/hooks/a", "headers": {"ce-type": "t.v1", "content-type":
                                   "application/json"}, "body": {"type": "t.v1", "id": "1"}, "status": 204}
        assert (second.path, second.body, second.status) == ("/down", "not json", 503)
        assert inbox.on("/hooks/a") == [first]
    finally:
        await inbox.stop()


async def test_settle_waits_for_the_outbox_probe() -> None:
    """With a probe, settle returns once the sender says nothing is left to send, not after a quiet spell."""
    inbox = WebhookInbox()
    calls = 0

    async def busy() -> bool:
        nonlocal calls
        calls += 1
        return calls < 3

    assert await inbox.settle(busy, poll_s=0.001)
    assert calls == 3

    async def stuck() -> bool:
        return True

    assert not await inbox.settle(stuck, timeout_s=0.02, poll_s=0.001)
