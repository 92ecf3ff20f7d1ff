"""In-process counters for GET /metrics, in the Prometheus text format."""

from __future__ import annotations

from collections import Counter


class Metrics:
    def __init__(self) -> None:
        self.messages: Counter[tuple[str, str]] = Counter()
        self.seconds: Counter[str] = Counter()

    def observe(self, channel: str, outcome: str, seconds: float) -> None:
        self.messages[(channel, outcome)] += 1
        self.seconds[channel] += seconds

    def render(self) -> str:
        lines = [
            "# HELP chorus_inbound_messages_total Inbound messages by channel and outcome.",
            "# TYPE chorus_inbound_messages_total counter",
        ]
        for (channel, outcome), count in sorted(self.messages.items()):
            lines.append(
                f'chorus_inbound_messages_total{{channel="{channel}",outcome="{outcome}"}} {count}'
            )
        lines += [
            "# HELP chorus_inbound_seconds_total Time spent handling inbound messages.",
            "# TYPE chorus_inbound_seconds_total counter",
        ]
        for channel, seconds in sorted(self.seconds.items()):
            lines.append(f'chorus_inbound_seconds_total{{channel="{channel}"}} {seconds:.6f}')
        return "\n".join(lines) + "\n"
