"""How long a user waits to be told a mistake that needs no model, against a peer checkout.

Each case is a whole `python -m dlcourse ...` process, as a user waits for it, run with
this checkout's package and with the peer's (for example a worktree of an older commit:
`git worktree add --detach /tmp/before 0b30500`), alternating which goes first, several
rounds; it prints the medians and their ratio as a Markdown table. Every case must exit
with status 2 on both sides.

    python benchmarks/mistakes.py --peer /tmp/before --rounds 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parents[1]


def cases(folder: Path) -> dict[str, list[str]]:
    bad = yaml.safe_load((HERE / "configs" / "mnist_cnn.yaml").read_text())
    bad["fit"]["epochs"] = "many"
    (folder / "bad.yaml").write_text(yaml.safe_dump(bad))
    (folder / "a-file").write_text("not a folder")
    return {
        "train bad.yaml": ["train", str(folder / "bad.yaml")],
        "evaluate NOT_A_RUN": ["evaluate", str(folder)],
        "train --resume NOT_A_RUN": ["train", "--resume", str(folder / "none")],
        "train mnist_cnn --output-dir FILE/runs": [
            "train", "mnist_cnn", "--output-dir", str(folder / "a-file" / "runs")],
    }


def seconds(root: Path, arguments: list[str], folder: Path) -> float:
    environment = {**os.environ, "PYTHONPATH": str(root), "DLCOURSE_OFFLINE": "1"}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "dlcourse", *arguments], cwd=folder,
                            capture_output=True, text=True, env=environment)
    elapsed = time.perf_counter() - start
    if result.returncode != 2:
        raise SystemExit(f"{root}: dlcourse {' '.join(arguments)} exited "
                         f"{result.returncode}, not 2:\n{result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peer", required=True, type=Path, help="the checkout to compare with")
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="dlcourse-mistakes-"))
    sides = {"peer": options.peer.resolve(), "this": HERE}
    times = {}
    for round_ in range(options.rounds):
        order = list(sides.items()) if round_ % 2 == 0 else list(sides.items())[::-1]
        for case, arguments in cases(folder).items():
            for side, root in order:
                times.setdefault((case, side), []).append(seconds(root, arguments, folder))
    print(f"| command ({options.rounds} rounds, medians) | peer | this checkout | ratio |")
    print("| --- | --- | --- | --- |")
    for case in cases(folder):
        peer, this = (statistics.median(times[(case, side)]) for side in ("peer", "this"))
        print(f"| `dlcourse {case}` | {peer:.2f} s | {this:.2f} s | {peer / this:.1f}x |")


if __name__ == "__main__":
    main()
