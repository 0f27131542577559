"""`train --init-from`: an earlier run's weights, its last layer's rows matched by character."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from kanjinet.core.classes import char_to_jis
from kanjinet.core.errors import KanjinetError
from kanjinet.training import train
from kanjinet.training.checkpoint import load_weights
from kanjinet.training.model import build_model
from kanjinet.training.warm_start import last_linear_name, warm_start

KNOWN = 12  # classes the earlier model learnt; the small set has 24


@pytest.fixture(scope="module")
def earlier(small_dataset_dir, tmp_path_factory, trained_checkpoint):
    """A model sure of the small set's 12 most frequent classes."""
    return trained_checkpoint(
        small_dataset_dir,
        tmp_path_factory.mktemp("earlier"),
        arch="kanjinet-small",
        class_limit=KNOWN,
        epochs=12,
        augment="none",
        label_smoothing=0.0,
        learning_rate=3e-3,
        patience=100,
        seed=0,
    )


def test_rows_follow_the_characters_and_new_classes_keep_fresh_rows(earlier):
    old = load_weights(earlier)
    table = list(reversed(old.class_jis[:8])) + [char_to_jis("ア"), char_to_jis("イ")]
    config = old.model_config.__class__(**{**old.model_config.__dict__, "num_classes": 10})
    model = build_model(config)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}

    started = warm_start(model, config, table, earlier)

    assert (started.classes_kept, started.classes_new) == (8, 2)
    head = last_linear_name(model)
    new_state, old_state = model.state_dict(), old.model.state_dict()
    for row, code in enumerate(table[:8]):
        old_row = old.class_jis.index(code)
        assert torch.equal(new_state[f"{head}.weight"][row], old_state[f"{head}.weight"][old_row])
        assert new_state[f"{head}.bias"][row] == old_state[f"{head}.bias"][old_row]
    for row in (8, 9):  # ア, イ: unknown to the earlier model
        assert torch.equal(new_state[f"{head}.weight"][row], fresh[f"{head}.weight"][row])
    body = [k for k in new_state if not k.startswith(head + ".")]
    assert body and all(torch.equal(new_state[k], old_state[k]) for k in body)


def test_known_classes_score_as_before(earlier):
    old = load_weights(earlier)
    table = [char_to_jis("ア")] + old.class_jis[::-1]
    config = old.model_config.__class__(**{**old.model_config.__dict__, "num_classes": KNOWN + 1})
    model = build_model(config)
    warm_start(model, config, table, earlier)
    pictures = torch.rand(4, 1, config.image_size, config.image_size)
    with torch.no_grad():
        before, after = old.model.eval()(pictures), model.eval()(pictures)
    assert torch.allclose(after[:, 1:], before.flip(1), atol=1e-5)


def test_train_starts_from_the_earlier_weights(
    earlier, small_dataset_dir, tmp_path, train_settings, capsys
):
    def first_epoch(out, **changes):
        cfg = train_settings(
            small_dataset_dir,
            out,
            arch="kanjinet-small",
            epochs=1,
            learning_rate=1e-9,
            min_lr=0.0,
            warmup_epochs=0,
            **changes,
        )
        train.train(cfg)
        return dict(load_weights(out / train.BEST_NAME).model.named_parameters())

    warm = first_epoch(tmp_path / "warm", init_from=earlier)
    assert f"weights from {earlier}: 12 classes kept, 12 new" in capsys.readouterr().out
    cold = first_epoch(tmp_path / "cold")
    earlier_model = load_weights(earlier).model
    old = dict(earlier_model.named_parameters())
    body = [n for n in old if not n.startswith(last_linear_name(earlier_model) + ".")]
    assert all(torch.allclose(warm[n], old[n], atol=1e-6) for n in body)
    assert not any(torch.allclose(cold[n], old[n], atol=1e-6) for n in body)


def test_another_network_is_refused(earlier, small_dataset_dir, tmp_path, train_settings):
    cfg = train_settings(small_dataset_dir, tmp_path, arch="original", init_from=earlier, epochs=1)
    with pytest.raises(KanjinetError, match="not the same network: a 'kanjinet-small' model"):
        train.train(cfg)


def test_a_missing_file_is_one_line_exit_2(small_dataset_dir, tmp_path):
    missing = tmp_path / "nothing.pth"
    command = [sys.executable, "-m", "kanjinet", "train", "--data-dir", str(small_dataset_dir)]
    command += ["--output-dir", str(tmp_path / "run"), "--init-from", str(missing)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "nothing.pth" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
