"""`train --non-characters`: pictures that are no character, taught to give no confident class."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from kanjinet.data.dataset import load_prepared
from kanjinet.preprocess.model_input import tensor_to_input
from kanjinet.synthesis.non_characters import (
    BLOCK,
    KINDS,
    NON_CHARACTER,
    drawn_picture,
    non_character_bank,
)
from kanjinet.training.checkpoint import load_weights
from kanjinet.training.data import load_training_data
from kanjinet.training.epoch import NON_CHARACTER_WEIGHT, training_loss


def test_the_bank_is_normalised_pictures_the_same_for_the_same_seed():
    count = 2 * len(KINDS)
    bank = non_character_bank(count, 32, seed=5)

    assert bank.shape == (count, 32, 32) and bank.dtype == np.uint8
    assert (bank.reshape(count, -1).max(axis=1) == 255).all()  # contrast-stretched, no blank
    assert np.array_equal(bank, non_character_bank(count, 32, seed=5))
    assert not np.array_equal(bank, non_character_bank(count, 32, seed=6))


def test_the_bank_is_the_same_however_many_processes_draw_it():
    count = BLOCK + len(KINDS)  # two blocks, the second short
    one = non_character_bank(count, 16, seed=3, workers=1)

    assert np.array_equal(one, non_character_bank(count, 16, seed=3, workers=2))
    assert not np.array_equal(one[:BLOCK][: len(KINDS)], one[BLOCK:])  # streams differ
    assert non_character_bank(0, 16, seed=3).shape == (0, 16, 16)


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "two characters"])
def test_drawn_kinds_come_through_a_scanner_like_every_training_record(kind):
    """A crisp picture would teach the model that sharp edges mean "no character"."""
    ink = drawn_picture(kind, np.random.default_rng(4))

    assert ink.dtype == np.uint8 and (ink % 17 == 0).all()  # 16 levels, as ETL9G
    inked = ink[ink > 0]
    assert (inked < inked.max()).mean() > 0.1  # soft edges and noise, not two values


def test_non_character_rows_are_pushed_towards_uniform_and_characters_keep_their_loss():
    logits = torch.randn(6, 24, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([3, NON_CHARACTER, 7, NON_CHARACTER, 0, 23])
    known = y != NON_CHARACTER

    loss = training_loss(logits, y, smoothing=0.1)

    characters = F.cross_entropy(logits[known], y[known], label_smoothing=0.1, reduction="sum")
    uniform = -F.log_softmax(logits[~known], dim=1).mean(dim=1).sum()
    assert torch.isclose(loss, (characters + NON_CHARACTER_WEIGHT * uniform) / 6)
    # a batch of only non-characters still has a finite loss, least at equal logits
    only = torch.full((2,), NON_CHARACTER)
    assert torch.isfinite(training_loss(logits[:2], only, 0.1))
    flat = training_loss(torch.zeros(2, 24), only, 0.1)
    assert torch.isclose(flat, NON_CHARACTER_WEIGHT * torch.log(torch.tensor(24.0)))


def test_only_the_training_split_gets_them(small_dataset_dir, train_settings, tmp_path):
    plain = load_training_data(train_settings(small_dataset_dir, tmp_path), torch.device("cpu"))
    cfg = train_settings(small_dataset_dir, tmp_path, non_characters=0.25)
    data = load_training_data(cfg, torch.device("cpu"))

    before, after = plain.splits["train"], data.splits["train"]
    added = round(0.25 * len(before.labels))
    assert len(after.labels) == len(before.labels) + added
    assert (after.labels[-added:] == NON_CHARACTER).all()
    assert torch.equal(after.images[: len(before.labels)], before.images)
    for name in ("val", "test"):
        assert torch.equal(data.splits[name].labels, plain.splits[name].labels)


def top_probabilities(checkpoint, pictures: np.ndarray) -> np.ndarray:
    model = load_weights(checkpoint).model.eval()
    with torch.no_grad():
        logits = model(tensor_to_input(torch.from_numpy(pictures)))
    return F.softmax(logits, dim=1).max(dim=1).values.numpy()


@pytest.fixture(scope="module")
def pair(small_dataset_dir, tmp_path_factory, fitted_small_model, trained_checkpoint):
    """The small model trained as `fitted_small_model` is, without and with non-characters."""
    without = fitted_small_model(small_dataset_dir, tmp_path_factory.mktemp("without"), 10)
    with_them = trained_checkpoint(
        small_dataset_dir,
        tmp_path_factory.mktemp("with"),
        arch="kanjinet-small",
        epochs=10,
        learning_rate=3e-3,
        augment="none",
        label_smoothing=0.0,
        patience=100,
        seed=0,
        non_characters=0.3,
    )
    return without, with_them


def separation(checkpoint, characters: np.ndarray, others: np.ndarray) -> float:
    """Mean top probability on characters over that on non-characters."""
    return (
        top_probabilities(checkpoint, characters).mean()
        / top_probabilities(checkpoint, others).mean()
    )


def test_a_model_taught_them_tells_unseen_ones_from_characters(pair, small_dataset_dir):
    without, with_them = pair
    characters = np.asarray(load_prepared(small_dataset_dir).images)
    unseen = non_character_bank(50, 32, seed=999)  # not the run's seed: other pictures

    taught = separation(with_them, characters, unseen)
    assert taught > 2.5 and taught > 2 * separation(without, characters, unseen)
