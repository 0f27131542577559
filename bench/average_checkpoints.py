"""Average the weights of fine-tunes that started from the same checkpoint (a model soup).

    python bench/average_checkpoints.py OUT.pth RUN_A/best_kanji_model.pth RUN_B/best_kanji_model.pth

Every floating-point tensor of the first checkpoint's weights becomes the mean of that
tensor over all the checkpoints (BatchNorm statistics included); integer tensors (step
counters) and everything else in the file (model config, class table, normalisation,
training settings) are the first checkpoint's. The networks must match tensor for
tensor. Uniform soups of fine-tunes from one start keep or beat each ingredient
(Wortsman et al., 2022); the reference model (src/kanjinet/models/README.md) is one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kanjinet.core.errors import KanjinetError
from kanjinet.training.checkpoint import atomic_torch_save, read_checkpoint_file


def average(paths: list[Path]) -> dict:
    """The first checkpoint's payload with its weights replaced by the mean of all."""
    payloads = [read_checkpoint_file(p) for p in paths]
    first = payloads[0]["state_dict"]
    for path, payload in zip(paths[1:], payloads[1:], strict=True):
        state = payload["state_dict"]
        if state.keys() != first.keys() or any(state[k].shape != first[k].shape for k in first):
            raise KanjinetError(f"{path}: not the same network as {paths[0]}")
    mean = {}
    for name, tensor in first.items():
        if not tensor.is_floating_point():
            mean[name] = tensor
            continue
        total = sum(p["state_dict"][name].double() for p in payloads)
        mean[name] = (total / len(payloads)).to(tensor.dtype)
    return {**payloads[0], "state_dict": mean}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the averaged checkpoint to write")
    parser.add_argument("checkpoints", type=Path, nargs="+", help="two or more checkpoints")
    args = parser.parse_args()
    try:
        atomic_torch_save(average(args.checkpoints), args.out)
    except KanjinetError as error:
        sys.exit(f"average_checkpoints: {error}")
    print(f"wrote {args.out}: the mean of {len(args.checkpoints)} checkpoints' weights")


if __name__ == "__main__":
    main()
