"""Test helpers that ship with vidmine: a fake OpenAI-compatible server for tests and
benchmarks (``vidmine.testing.fake_openai``)."""
