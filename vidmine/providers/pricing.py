"""What a provider call cost, estimated from its recorded usage and a price table.

Prices come from the config's ``prices`` section (``prices.<provider>.<model>``); for
the default OpenAI models there are built-in list prices so a cost shows up without
any configuration. The local provider and cached answers cost nothing.
"""

from __future__ import annotations

from vidmine.config import LOCAL_PROVIDER, Price
from vidmine.providers.base import CallRecord

# OpenAI list prices in USD (2025); override under `prices: {openai: {<model>: ...}}`
# in vidmine.yaml when they change.
DEFAULT_OPENAI_PRICES: dict[str, Price] = {
    "whisper-1": Price(per_audio_minute=0.006),
    "gpt-4o": Price(input_per_1m_tokens=2.50, output_per_1m_tokens=10.00),
    "gpt-4o-mini": Price(input_per_1m_tokens=0.15, output_per_1m_tokens=0.60),
    "text-embedding-3-small": Price(input_per_1m_tokens=0.02),
}


def price_for(provider: str, model: str, prices: dict[str, dict[str, Price]]) -> Price | None:
    """The configured price of a model at a provider, else the built-in OpenAI one, else None."""
    configured = prices.get(provider, {}).get(model)
    if configured is not None:
        return configured
    if provider == "openai":
        return DEFAULT_OPENAI_PRICES.get(model)
    return None


def estimate_cost(call: CallRecord, prices: dict[str, dict[str, Price]]) -> float:
    """Estimated USD cost of one call; 0 when it was cached, local, or has no known price."""
    if call.cached or call.status == "cached" or call.provider == LOCAL_PROVIDER:
        return 0.0
    price = price_for(call.provider, call.model, prices)
    if price is None:
        return 0.0
    return (
        call.input_tokens * price.input_per_1m_tokens / 1_000_000
        + call.output_tokens * price.output_per_1m_tokens / 1_000_000
        + call.audio_seconds / 60.0 * price.per_audio_minute
    )
