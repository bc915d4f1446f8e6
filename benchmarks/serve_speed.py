"""Requests per second and latency of `python -m workbook serve` at 1 and 8 concurrent clients.

Starts the service on an ONNX file in its own process on 127.0.0.1, waits until it answers, then sends
the same dataset photo `--requests` times per client count (after 5 warm-up requests) and prints
requests/s with the 50th and 95th percentile latency. Without `--model` it first exports a 150-px model
with random weights (the same compute as ImageNet's; about 1-2 minutes on a 2-core CPU):

    python benchmarks/serve_speed.py [--model runs/<run>/13_serving/clothing_classifier.onnx]
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from workbook import data, dataset


def export_random_model(folder: Path, image_size: int) -> Path:
    """A final model with random weights, exported to ONNX (needs Keras and a backend that exports)."""
    from workbook import models, serving

    final = models.final_model(models.base_model(None, image_size), models.make_head(0.001, 100, 0.2))
    names = [folder.name for folder in dataset.class_folders(data.split_dir("train"))]
    return serving.export_onnx(final, folder / "clothing_classifier.onnx", names)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"The service stopped (exit code {process.returncode})")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.3)
    raise SystemExit(f"The service did not answer within {seconds:.0f} s")


def measure(url: str, photo: bytes, clients: int, requests: int) -> tuple[float, float, float]:
    """Requests per second, and p50 and p95 latency in milliseconds, with `clients` sending at once."""
    with httpx.Client(base_url=url, timeout=60) as http:

        def send(_) -> float:
            started = time.perf_counter()
            answer = http.post("/predict", files={"file": ("photo.jpg", photo, "image/jpeg")})
            answer.raise_for_status()
            return time.perf_counter() - started

        for _ in range(5):
            send(None)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=clients) as pool:
            latencies = np.array(list(pool.map(send, range(requests))))
        elapsed = time.perf_counter() - started
    p50, p95 = np.percentile(latencies, [50, 95]) * 1000
    return requests / elapsed, float(p50), float(p95)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="an ONNX file from notebook 13 (default: export a random one)")
    parser.add_argument("--image-size", type=int, default=150, help="of the exported model when --model is not given")
    parser.add_argument("--requests", type=int, default=100, help="requests per client count")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        model = args.model or export_random_model(Path(scratch), args.image_size)
        photo = data.example_image("shoes", split="test").read_bytes()
        port = free_port()
        command = [sys.executable, "-m", "workbook", "serve", str(model), "--port", str(port)]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_up(url, process)
            print(f"{model.name}, {len(photo) / 1e3:.0f} kB JPEG, {platform.machine()} with {os.cpu_count()} CPU cores")
            for clients in args.clients:
                speed, p50, p95 = measure(url, photo, clients, args.requests)
                print(f"{clients} client(s): {speed:.1f} requests/s, latency p50 {p50:.0f} ms, p95 {p95:.0f} ms")
        finally:
            process.terminate()
            process.wait(10)


if __name__ == "__main__":
    main()
