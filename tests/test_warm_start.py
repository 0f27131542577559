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


# --------------------------------------------------------------------------- from an ONNX file


@pytest.fixture(scope="module")
def exported(earlier, small_dataset_dir, tmp_path_factory):
    """The earlier checkpoint exported to ONNX (BatchNorm folded into the convolutions)."""
    from kanjinet.export.exporter import export_checkpoint
    from kanjinet.export.settings import ExportConfig

    path = tmp_path_factory.mktemp("exported") / "kanji_etl9g_model.onnx"
    export_checkpoint(ExportConfig(model_path=earlier, onnx_path=path, data_dir=small_dataset_dir))
    return path


def onnx_logits(path, pictures: torch.Tensor):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {session.get_inputs()[0].name: pictures.numpy()})[0])


def test_an_onnx_file_gives_the_same_logits_before_any_step(exported, earlier):
    old = load_weights(earlier)
    model = build_model(old.model_config)
    started = warm_start(model, old.model_config, old.class_jis, exported)
    assert (started.classes_kept, started.classes_new) == (KNOWN, 0)
    pictures = torch.rand(6, 1, old.model_config.image_size, old.model_config.image_size)
    with torch.no_grad():
        torch_logits = model.eval()(pictures)
    assert torch.allclose(torch_logits, onnx_logits(exported, pictures), atol=1e-4)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(float(m.running_mean.abs().max()) == 0.0 for m in norms)


def test_a_run_from_onnx_keeps_its_batchnorm_statistics(
    exported, small_dataset_dir, tmp_path, train_settings
):
    cfg = train_settings(
        small_dataset_dir,
        tmp_path,
        arch="kanjinet-small",
        init_from=exported,
        epochs=1,
        learning_rate=1e-9,
        min_lr=0.0,
        warmup_epochs=0,
    )
    train.train(cfg)
    tuned = load_weights(tmp_path / train.BEST_NAME)
    pictures = torch.rand(6, 1, tuned.model_config.image_size, tuned.model_config.image_size)
    with torch.no_grad():
        after = tuned.model.eval()(pictures)
    before = onnx_logits(exported, pictures)
    known = [tuned.class_jis.index(code) for code in onnx_class_jis(exported)]
    assert torch.allclose(after[:, known], before, atol=1e-3)


def onnx_class_jis(path) -> list[int]:
    import json

    import onnx

    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    return [int(code, 16) for code in json.loads(meta["kanjinet.class_jis"])]


def test_an_onnx_file_of_another_network_is_refused(exported):
    from kanjinet.training.model import model_config

    config = model_config("original", 24, 32, "adaptive_avg")
    with pytest.raises(KanjinetError, match="not the same network: a 'kanjinet-small' model"):
        warm_start(build_model(config), config, [char_to_jis("ア")], exported)


def test_an_onnx_file_with_a_changed_weight_shape_is_refused_in_one_line(
    exported, earlier, tmp_path
):
    import onnx
    from onnx import numpy_helper

    graph_file = onnx.load(str(exported))
    conv = next(n for n in graph_file.graph.node if n.op_type == "Conv")
    weight = next(i for i in graph_file.graph.initializer if i.name == conv.input[1])
    array = numpy_helper.to_array(weight)
    weight.CopyFrom(numpy_helper.from_array(array[:-1].copy(), weight.name))
    broken = tmp_path / "broken.onnx"
    onnx.save(graph_file, str(broken))
    old = load_weights(earlier)
    with pytest.raises(KanjinetError, match=r"node 1 \(Conv\): weight .* where the network has"):
        warm_start(build_model(old.model_config), old.model_config, old.class_jis, broken)


def test_an_onnx_file_without_kanjinet_metadata_is_refused(exported, earlier, tmp_path):
    import onnx

    graph_file = onnx.load(str(exported))
    del graph_file.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(graph_file, str(bare))
    old = load_weights(earlier)
    with pytest.raises(KanjinetError, match="not a kanjinet ONNX export"):
        warm_start(build_model(old.model_config), old.model_config, old.class_jis, bare)
