"""GET /metrics through prometheus-client: inbound messages by channel and outcome, the
handling-latency histogram, the writer's batch sizes and queue depth, store errors; each
Metrics on its own registry."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import Metrics
from tests.twilio_fakes import Phone, running_chorus, twilio_settings


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_each_metrics_counts_on_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.observe("sms", "ok", 0.004)
    first.observe("sms", "ok", 0.3)
    first.observe("telegram", "store_unavailable", 0.01)
    second.observe("sms", "failed", 0.002)
    first.batch_applied(3)
    first.batch_applied(40)
    first.queue_depth(7)
    first.store_error("commit")

    seen = samples(first.render().decode())
    assert seen[("chorus_inbound_messages_total", (("channel", "sms"), ("outcome", "ok")))] == 2
    assert (
        "chorus_inbound_messages_total",
        (("channel", "sms"), ("outcome", "failed")),
    ) not in seen
    latency = (("channel", "sms"),)
    assert seen[("chorus_inbound_handling_seconds_count", latency)] == 2
    assert seen[("chorus_inbound_handling_seconds_bucket", (*latency, ("le", "0.005")))] == 1
    assert seen[("chorus_inbound_handling_seconds_bucket", (*latency, ("le", "0.5")))] == 2
    assert round(seen[("chorus_inbound_seconds_total", latency)], 3) == 0.304  # the old name
    assert seen[("chorus_writer_batch_size_count", ())] == 2
    assert seen[("chorus_writer_batch_size_sum", ())] == 43
    assert seen[("chorus_writer_batch_size_bucket", (("le", "4.0"),))] == 1
    assert seen[("chorus_writer_queue_depth", ())] == 7
    assert seen[("chorus_store_errors_total", (("kind", "commit"),))] == 1
    assert seen[("chorus_store_errors_total", (("kind", "unavailable"),))] == 1
    assert first.messages == {("sms", "ok"): 2, ("telegram", "store_unavailable"): 1}
    assert second.messages == {("sms", "failed"): 1}


async def test_metrics_count_the_messages_a_running_chorus_handles(
    database_url: str, http: aiohttp.ClientSession
) -> None:
    async with running_chorus(twilio_settings(database_url)) as chorus:
        phone = Phone(http, chorus.port, "+447700900123")
        await phone.text("START")
        await phone.text("YES")
        async with http.get(f"http://127.0.0.1:{chorus.port}/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=")
            seen = samples(await response.text())
    ok = ("chorus_inbound_messages_total", (("channel", "sms"), ("outcome", "ok")))
    assert seen[ok] == 2
    assert seen[("chorus_inbound_handling_seconds_count", (("channel", "sms"),))] == 2
    # The writer applied them, one at a time here (the second waited for the first).
    assert seen[("chorus_writer_batch_size_sum", ())] == 2
    assert seen[("chorus_writer_queue_depth", ())] == 0
    assert seen[("process_resident_memory_bytes", ())] > 0
