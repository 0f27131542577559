"""A checkpoint with its output rows cut down to a class set (e.g. a `read` model's weights
as a 3,036-class ETL9G model), to compare it with a model of that set on the same terms.

.venv/bin/python bench/cut_classes.py run-read/best_kanji_model.pth cut/best_kanji_model.pth \
    [--classes etl9g]

Every other tensor is the checkpoint's; rows are matched by character
(`kanjinet.training.warm_start`); the checkpoint's settings, metrics and dataset identity
are kept, so `kanjinet export` treats it as the run it came from.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from kanjinet.core.classes import CLASS_SETS, class_set_labels, table_jis
from kanjinet.training.checkpoint import load_weights, save_checkpoint
from kanjinet.training.model import build_model
from kanjinet.training.warm_start import warm_start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--classes", default="etl9g", choices=list(CLASS_SETS))
    args = parser.parse_args()
    source = load_weights(args.checkpoint)
    table = table_jis()
    wanted = [table[label] for label in class_set_labels(args.classes).tolist()]
    class_jis = [code for code in wanted if code in set(source.class_jis)]
    config = dataclasses.replace(source.model_config, num_classes=len(class_jis))
    model = build_model(config)
    started = warm_start(model, config, class_jis, args.checkpoint)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(
        args.out,
        model,
        config,
        class_jis,
        source.normalization,
        source.train_config,
        source.metrics,
        dataset=source.dataset,
    )
    print(f"{args.out}: {started.classes_kept:,} of {len(source.class_jis):,} classes kept")


if __name__ == "__main__":
    main()
