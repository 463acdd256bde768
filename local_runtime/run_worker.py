"""The warm process local runs are forked from (see :mod:`local_runtime.launcher`).

Started by the launcher as ``python -m local_runtime.run_worker``, it imports Dagster,
vidmine's definitions and the libraries the stages use (the local models' runtimes
among them), opens the Dagster instance the launcher names on its first line of stdin
(its storage classes, their migrations checked), then waits for run ids on stdin. For
each it forks a child that executes that run on that instance, exactly as
``dagster api execute_run`` would, and answers with the child's pid on stdout. A fresh
run therefore starts in milliseconds instead of re-importing everything (opening the
instance alone imported seconds' worth of storage modules in every run).

It starts no thread pool a child would need before forking: a child inherits neither
threads nor the locks they might hold. The one model it loads ahead is the speaker
encoder (numpy arrays, 17 MB, read in 0.07 s; see :func:`load_speaker_encoder`); the
other models are loaded by each run, once.
The instance it opens holds no connection between calls (Dagster's SQLite storages
connect per call), so a child can use it as its own.
It exits when stdin closes, that is when the launcher's process ends; runs already
forked carry on.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import signal
import sys

# What a run imports anyway; importing it here once saves every run the time.
PRELOADED_MODULES = (
    "dagster",
    "dagster._cli.api",
    "pipeline_defs.definitions",
    "vidmine.media.decode",
    "vidmine.media.keyframes",
    "vidmine.media.ocr",
    "vidmine.media.visual",
    "vidmine.providers.openai",
    "vidmine.providers.minilm",
    "sklearn.feature_extraction.text",  # the extractive content writer's TF-IDF
    "sklearn.metrics.pairwise",
    "faster_whisper",
    "ctranslate2",
    "tokenizers",
    "psycopg",
    "vidmine.speakers.encoder",
)
READY = "ready"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _open_instance(instance_ref_json: str):
    from dagster import DagsterInstance

    from local_runtime.dagster_private import InstanceRef, deserialize_value

    return DagsterInstance.from_ref(deserialize_value(instance_ref_json, InstanceRef))


class WarmInstance:
    """The Dagster instance opened before forking, and the serialized ref it came from."""

    def __init__(self, instance_ref_json: str | None) -> None:
        self.ref_json = instance_ref_json
        self.instance = None
        if instance_ref_json:
            try:
                self.instance = _open_instance(instance_ref_json)
            except Exception as err:  # each run opens its own and reports what fails
                sys.stderr.write(f"run_worker: not opening the instance ahead: {err}\n")

    def for_ref(self, instance_ref_json: str):
        """The warm instance when the run names the same one, else a new one."""
        if self.instance is not None and instance_ref_json == self.ref_json:
            return self.instance
        return _open_instance(instance_ref_json)


def _run_child(run_id: str, instance_ref_json: str, warm: WarmInstance) -> None:
    """In the forked child: execute the run, then leave without running the parent's
    atexit handlers or flushing its inherited buffers twice."""
    code = 1
    try:
        os.setsid()  # its own process group: a signal to the warm process spares it
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # subprocess needs its exit codes
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as in any run process
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        sys.stdin.close()
        from local_runtime.dagster_private import _execute_run_command_body

        with warm.for_ref(instance_ref_json) as instance:
            code = _execute_run_command_body(
                run_id,
                instance,
                write_stream_fn=lambda _event: None,
                set_exit_code_on_failure=False,
            )
    except BaseException:
        logging.getLogger(__name__).exception("run worker for %s failed", run_id)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def load_speaker_encoder() -> None:
    """Build the speakers stage's encoder once, here, so that every run shares it (its
    weights are read-only after loading: the pages stay shared after the fork). It is
    numpy arrays and starts no thread (its network runs with one BLAS thread)."""
    from vidmine.speakers.encoder import SpeakerModelMissing, shared_encoder

    with contextlib.suppress(SpeakerModelMissing):  # the stage skips with the reason
        shared_encoder()


def main() -> None:
    # Ctrl-C or a stop of `make dev` reaches the whole process group. This process ends
    # when the daemon that started it closes its stdin or exits, so it leaves both signals
    # to the daemon (dying half-started made the daemon log a failed warm-up).
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, signal.SIG_IGN)
    for module in PRELOADED_MODULES:
        try:
            importlib.import_module(module)
        except ImportError as err:  # an optional extra is missing: the run will say so
            sys.stderr.write(f"run_worker: not preloading {module}: {err}\n")
    load_speaker_encoder()
    first = sys.stdin.readline()
    if not first:
        return  # the launcher went away while this process was starting
    warm = WarmInstance(json.loads(first).get("instance_ref") if first.strip() else None)
    # Children are reaped by the kernel; the launcher checks on them by pid.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    out = sys.stdout
    out.write(READY + "\n")
    out.flush()
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _run_child(request["run_id"], request["instance_ref"], warm)
        out.write(json.dumps({"run_id": request["run_id"], "pid": pid}) + "\n")
        out.flush()


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        # The launcher went away: nothing is left to answer, not even at exit's flush.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
