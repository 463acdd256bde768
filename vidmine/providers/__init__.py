"""AI providers: the interfaces every stage calls, a local offline implementation and an
OpenAI-compatible one. A provider is chosen per stage in the config (``stages.<stage>``)."""
