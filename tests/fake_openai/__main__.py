"""``python -m fake_openai --port N --latency-ms L ...`` (from ``tests/``, or with
``PYTHONPATH=tests``): the fake server standalone; it prints its base URL, the one line a
script reads, and stops on SIGINT or SIGTERM or after ``--max-lifetime-s``."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from fake_openai.server import LOOPBACK_HOSTS, FakeOpenAI


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Fake OpenAI-compatible server for tests and benchmarks."
    )
    parser.add_argument("--host", default="127.0.0.1", choices=LOOPBACK_HOSTS)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--fail-429", type=int, default=0)
    parser.add_argument("--retry-after", default="0")
    parser.add_argument("--throttle-above", type=int, default=None)
    parser.add_argument("--fail-5xx", type=int, default=0)
    parser.add_argument("--status-5xx", type=int, default=500)
    parser.add_argument("--hang", type=int, default=0)
    parser.add_argument("--hang-s", type=float, default=30.0)
    parser.add_argument("--malformed", type=int, default=0)
    parser.add_argument("--malformed-marker", default=None)
    parser.add_argument("--transcript-text", default=None)
    parser.add_argument("--transcript-language", default="english")
    parser.add_argument("--segment-s", type=float, default=5.0)
    parser.add_argument("--require-api-key", default=None)
    parser.add_argument(
        "--max-lifetime-s",
        type=float,
        default=3600.0,
        help="stop by itself after this long, so a forgotten server does not linger",
    )
    args = vars(parser.parse_args(argv))
    host, port, lifetime = args.pop("host"), args.pop("port"), args.pop("max_lifetime_s")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    fake = FakeOpenAI(host=host, port=port, **args).start()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    # The one line a script reads to learn the port.
    print(fake.base_url, flush=True)
    stop.wait(lifetime)
    fake.stop()


if __name__ == "__main__":
    main()
