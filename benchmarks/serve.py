"""`dlcourse serve` under load: requests per second and p50/p99 latency, written to
benchmarks/RESULTS.md (its figures are kept in RESULTS.json under "serving").

For an MNIST run (one PNG digit per request) and an IMDB run (one review per request),
at concurrency 1, 8 and 32, two servers are measured: dlcourse's, which calls the model
through one traced function, and its peer, the same server calling `model.predict` for
each request (what a first server does). Each is its own process on a loopback port; the
client's threads hold keep-alive connections. Sides alternate within each round; the
report gives medians over rounds. Client and server share this machine's cores.

    python benchmarks/serve.py --mnist-run RUN_DIR --imdb-run RUN_DIR --rounds 3
"""

from __future__ import annotations

import argparse
import base64
import gzip
import http.client
import io
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import machine, render  # noqa: E402  (benchmarks/run.py owns RESULTS.md)

CONCURRENCY = (1, 8, 32)
SIDES = {"traced": True, "model.predict": False}
SERVER = ("import sys, uvicorn; from dlcourse.serving import create_app; "
          "uvicorn.run(create_app(sys.argv[1], compiled=sys.argv[3] == '1'), host='127.0.0.1', "
          "port=int(sys.argv[2]), log_level='warning')")


def main() -> None:
    args = _arguments()
    data_dir = Path(args.data_dir)
    payloads = {"mnist": (Path(args.mnist_run), _digit(data_dir)),
                "imdb": (Path(args.imdb_run), _review(data_dir))}
    measured = []
    for round_ in range(1, args.rounds + 1):
        for model, (run, payload) in payloads.items():
            sides = list(SIDES) if round_ % 2 else list(SIDES)[::-1]
            for side in sides:
                for concurrency, result in _measure(run, SIDES[side], payload, args.requests):
                    measured.append({"model": model, "side": side, "round": round_,
                                     "concurrency": concurrency, **result})
                    print(f"round {round_} {model:5} {side:13} c={concurrency:2}: "
                          f"{result['requests_per_second']:7.1f} req/s, p50 "
                          f"{result['p50_ms']:6.1f} ms, p99 {result['p99_ms']:6.1f} ms, "
                          f"{result['errors']} errors", flush=True)
    saved = HERE / "RESULTS.json"
    results = json.loads(saved.read_text()) if saved.exists() else {}
    results["serving"] = {"machine": machine(), "runs": {k: str(v[0]) for k, v in payloads.items()},
                          "command": " ".join([Path(sys.executable).name, *sys.argv]),
                          "requests": args.requests, "measured": measured}
    saved.write_text(json.dumps(results, indent=1) + "\n")
    (HERE / "RESULTS.md").write_text(render(results))
    print(f"Wrote {HERE / 'RESULTS.md'} and {saved}")


def _digit(data_dir: Path) -> bytes:
    import numpy as np
    from PIL import Image

    with np.load(data_dir / "mnist.npz") as arrays:
        digit = arrays["x_test"][0]
    buffer = io.BytesIO()
    Image.fromarray(digit).save(buffer, "PNG")
    return json.dumps({"images": [base64.b64encode(buffer.getvalue()).decode()]}).encode()


def _review(data_dir: Path) -> bytes:
    path = sorted((data_dir / "imdb_text").glob("aclImdb_test_*.jsonl.gz"))[0]
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        text = json.loads(next(lines))["text"]
    return json.dumps({"texts": [text]}).encode()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _measure(run: Path, compiled: bool, payload: bytes, requests: int):
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(run), str(port),
                               "1" if compiled else "0"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(port, server)
        _load(port, payload, 1, 20)  # warm-up: the first calls trace and allocate
        for concurrency in CONCURRENCY:
            yield concurrency, _load(port, payload, concurrency, requests)
    finally:
        server.terminate()
        server.wait(timeout=60)


def _wait_for(port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit("benchmarks: the server exited before answering")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.3)
    sys.exit("benchmarks: the server did not answer /health within 180 s")


def _load(port: int, payload: bytes, concurrency: int, requests: int) -> dict:
    """`requests` POST /predict from `concurrency` threads, each on its own connection."""
    latencies, errors, lock = [], [0], threading.Lock()
    share = [requests // concurrency + (i < requests % concurrency) for i in range(concurrency)]

    def client(count: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for _ in range(count):
            started = time.perf_counter()
            try:
                connection.request("POST", "/predict", payload,
                                   {"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                failed = response.status != 200
            except OSError:
                failed = True
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                errors[0] += failed

    threads = [threading.Thread(target=client, args=(count,)) for count in share]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    ordered = sorted(latencies)
    return {"requests": len(ordered), "errors": errors[0], "seconds": wall,
            "requests_per_second": len(ordered) / wall,
            "p50_ms": 1000 * statistics.median(ordered),
            "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("DLCOURSE_DATA_DIR", "../shared/data"))
    parser.add_argument("--mnist-run", required=True, help="a run of configs/mnist_cnn.yaml")
    parser.add_argument("--imdb-run", required=True, help="a run of configs/imdb_lstm.yaml")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=400, help="per concurrency level")
    return parser.parse_args()


if __name__ == "__main__":
    main()
