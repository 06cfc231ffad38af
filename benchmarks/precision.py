"""float32 against mixed_bfloat16: every preset of the chosen families, on the same images.

    taskset -c 0 python benchmarks/precision.py                  # cnn and lenet, 20,000 images, 3 rounds
    taskset -c 0 python benchmarks/precision.py --limit 6000 --epochs 2 --rounds 3
    taskset -c 0 python benchmarks/precision.py --presets doc002_basic_cnn,doc000_lenet5   # some presets

Run it on one core (``taskset -c 0``): both precisions then get the same core, and a second core's
load does not leak into one of them. Each round trains every preset once in each precision, the
order alternating from one round to the next (float32 first in odd rounds), on the same data split
and seed. Per preset it prints the median over the rounds of the seconds per epoch (the last epoch:
the first pays graph tracing), the seconds to a fixed validation accuracy (``--target``; "-" when
not reached), the validation accuracy after the presets' epochs (capped by ``--epochs``), and the
bfloat16 / float32 ratio of each.

bfloat16 trains at native speed only on CPUs with the ``avx512_bf16`` or ``amx_bf16`` flag (or on a
GPU); elsewhere TensorFlow emulates it, and ``--precision auto`` keeps float32 (search.training).
"""

from __future__ import annotations

import argparse
import logging
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from search.core import start_tensorflow

start_tensorflow()  # before Keras is imported: TensorFlow's start-up lines kept off stderr

from search.core import setup_logging
from search.data import load_dataset
from search.training import (
    configure_precision,
    configure_threads,
    device_description,
    fit_candidate,
)
from spaces import get_space

_log = logging.getLogger("search.benchmarks")
PRECISIONS = ("float32", "bfloat16")


def _cpu() -> str:
    """The CPU's model name and whether it has native bfloat16."""
    from search.training import cpu_flags, native_bfloat16

    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return platform.processor() or platform.machine()
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "?")
    return f"{name}, native bfloat16: {'yes' if native_bfloat16(cpu_flags(text)) else 'no'}"


def _time_to(target: float, accuracies: list[float], seconds: list[float]) -> float | None:
    """Seconds of training until the first epoch at or above ``target`` (None: never)."""
    total = 0.0
    for accuracy, epoch in zip(accuracies, seconds, strict=True):
        total += epoch
        if accuracy >= target:
            return total
    return None


def _median(values: list[float | None]) -> float | None:
    """The median, or None when any run missed (the target was not always reached)."""
    return None if not values or any(v is None for v in values) else statistics.median(v for v in values if v is not None)


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _ratio(bf16: float | None, f32: float | None) -> str:
    return "-" if bf16 is None or not f32 else f"{bf16 / f32:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default="cnn,lenet", help="comma-separated families (default cnn,lenet)")
    parser.add_argument("--limit", type=int, default=20000, help="images (default 20,000)")
    parser.add_argument("--epochs", type=int, default=3, help="cap on each preset's epochs (default 3)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, at least 3 (default 3)")
    parser.add_argument("--target", type=float, default=0.80, help="validation accuracy to time (default 0.80)")
    parser.add_argument("--presets", help="comma-separated preset names (default: every Fashion-MNIST preset of the families)")
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow threads (default 1, for one core)")
    args = parser.parse_args()
    setup_logging()
    configure_threads(args.threads)
    data = load_dataset("fashion_mnist", limit=args.limit, seed=0)
    _log.info("machine: %s, %s, %s, Python %s", platform.machine(), _cpu(), device_description(), platform.python_version())
    _log.info("%s; %d rounds, at most %d epochs, target %.2f, %d threads",
              data.summary(), args.rounds, args.epochs, args.target, args.threads)  # fmt: skip
    runs: dict[tuple[str, str, str], list[tuple[float, float | None, float]]] = {}
    begin = time.perf_counter()
    for r in range(args.rounds):
        order = PRECISIONS if r % 2 == 0 else PRECISIONS[::-1]
        for family in args.families.split(","):
            space = get_space(family)
            for preset in space.presets.values():
                if preset.dataset != "fashion_mnist" or args.presets and preset.name not in args.presets.split(","):
                    continue
                candidate = space.from_params(preset.params)
                for precision in order:
                    configure_precision(precision, warn=r == 0)
                    result = fit_candidate(space, candidate, data, max_epochs=args.epochs)
                    seconds = result.history["epoch_seconds"]
                    accuracies = result.history["val_accuracy"]
                    run = (seconds[-1], _time_to(args.target, accuracies, seconds), accuracies[-1])
                    runs.setdefault((family, preset.name, precision), []).append(run)
                    _log.info("round %d %s %s %-8s %.1f s/epoch, val acc %.4f", r + 1, family, preset.name,
                              precision, run[0], run[2])  # fmt: skip
    configure_precision("float32")
    _log.info("%.0f s in all", time.perf_counter() - begin)
    _log.info("medians over %d rounds (bf16/f32: the ratio of bfloat16 to float32; below 1: bfloat16 faster)", args.rounds)
    _log.info("| family | preset | s/epoch f32 | s/epoch bf16 | bf16/f32 | s to %.2f f32 | s to %.2f bf16 | bf16/f32 "
              "| val acc f32 | val acc bf16 |", args.target, args.target)  # fmt: skip
    _log.info("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    presets = dict.fromkeys((f, p) for f, p, _ in runs)
    for family, name in presets:
        f32, bf16 = runs[(family, name, "float32")], runs[(family, name, "bfloat16")]
        epoch = [statistics.median(r[0] for r in rs) for rs in (f32, bf16)]
        target = [_median([r[1] for r in rs]) for rs in (f32, bf16)]
        accuracy = [statistics.median(r[2] for r in rs) for rs in (f32, bf16)]
        _log.info(
            "| %s | %s | %.1f | %.1f | %s | %s | %s | %s | %.4f | %.4f |",
            family, name, epoch[0], epoch[1], _ratio(epoch[1], epoch[0]), _fmt(target[0], ".1f"),
            _fmt(target[1], ".1f"), _ratio(target[1], target[0]), accuracy[0], accuracy[1],
        )  # fmt: skip


if __name__ == "__main__":
    main()
