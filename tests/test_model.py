"""Model family and checkpoints: shapes, fixed-pooling equivalence, tract-loadable ops, round trip."""

from __future__ import annotations

import warnings

import pytest
import torch
from conftest import bench_module

from kanjinet.core.classes import CLASS_JIS
from kanjinet.core.errors import KanjinetError
from kanjinet.training.checkpoint import load_checkpoint, save_checkpoint
from kanjinet.training.model import (
    ARCHS,
    DEFAULT_ARCH,
    POOLINGS,
    ModelConfig,
    build_model,
    count_parameters,
    model_config,
    model_cost,
    with_fixed_pooling,
)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("pooling", POOLINGS)
def test_output_shape_every_preset_and_pooling(arch, pooling):
    cfg = model_config(arch, num_classes=24, image_size=32, pooling=pooling)
    model = build_model(cfg).eval()
    with torch.no_grad():
        out = model(torch.rand(3, 1, 32, 32))
    assert out.shape == (3, 24)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("pooling", ["adaptive_avg", "adaptive_max", "avg_2x2", "max_2x2"])
def test_fixed_pooling_is_identical_at_trained_size(arch, pooling):
    torch.manual_seed(0)
    cfg = model_config(arch, num_classes=24, image_size=64, pooling=pooling)
    model = build_model(cfg)
    # Non-trivial BN statistics and weights, so the comparison is not of near-zero logits.
    model.train()
    with torch.no_grad():
        model(torch.rand(16, 1, 64, 64))
        for p in model.classifier.parameters():
            p.normal_(0, 0.5)
    model.eval()
    fixed = with_fixed_pooling(model)
    adaptive_left = [
        m
        for m in fixed.modules()
        if isinstance(m, torch.nn.AdaptiveAvgPool2d | torch.nn.AdaptiveMaxPool2d)
    ]
    assert adaptive_left == []
    x = torch.rand(4, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(fixed(x), model(x), rtol=1e-5, atol=1e-5)
    expected = {"adaptive_avg": "fixed_avg", "adaptive_max": "fixed_max"}.get(pooling, pooling)
    assert fixed.config.pooling == expected
    assert model.config.pooling == pooling  # the original is untouched


def test_original_preset_matches_the_original_parameter_count():
    # The original README reports 1,735,527 parameters for its network at 3,036 classes.
    assert count_parameters(build_model(model_config("original"))) == 1_735_527


def test_default_preset_within_web_budget():
    cost = model_cost(model_config())
    assert cost.parameters <= 2_500_000
    assert cost.fp32_mb <= 10.0


def _depthwise_input_sides(model: torch.nn.Module, image_size: int) -> list[int]:
    """Input side of every depthwise (grouped) conv in one forward pass."""
    sides: list[int] = []
    hooks = [
        m.register_forward_hook(lambda mod, inputs, out: sides.append(inputs[0].shape[-1]))
        for m in model.modules()
        if isinstance(m, torch.nn.Conv2d) and m.groups > 1
    ]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 1, image_size, image_size))
    for hook in hooks:
        hook.remove()
    return sides


def test_default_is_the_accurate_preset():
    # The reference model's preset: as accurate as `kanjinet` at 3,036 classes on the same
    # data, and within the interactive budget (tract batch-1 <= 3 ms) where `kanjinet` is
    # not (models/README.md).
    assert DEFAULT_ARCH == model_config().arch == "kanjinet-lean"


def test_fast_preset_is_cheap():
    # bench/RESULTS.md "Fast preset search": tract batch-1 < 1 ms.
    cfg = model_config("kanjinet-fast")
    model = build_model(cfg)
    assert count_parameters(model) == 1_228_712
    cost = model_cost(cfg)
    assert 13.0 < cost.mmacs < 15.0  # vs 30.0 for `kanjinet`
    # The speed comes from fused blocks: no depthwise conv runs above 8x8 (tract is slow there).
    sides = _depthwise_input_sides(model, 64)
    assert sides and max(sides) <= 8


def test_fused_block_is_dense_and_keeps_residual():
    cfg = model_config("kanjinet-fast", num_classes=10, image_size=64)
    model = build_model(cfg)
    fused = [m for m in model.features if getattr(m, "body", None) is not None][:3]
    for block in fused:
        first_conv = block.body[0][0]
        assert first_conv.kernel_size == (3, 3) and first_conv.groups == 1
    # Third stage: 64 -> 64, stride 1: residual; the stride-2 ones are not.
    assert [b.residual for b in fused] == [False, False, True]


def test_configs_without_fused_key_still_load():
    # Checkpoints written before `Stage.fused` existed store stages without that key.
    cfg = model_config("kanjinet")
    old = cfg.to_dict()
    for stage in old["stages"]:
        del stage["fused"]
    restored = ModelConfig.from_dict(old)
    assert restored == cfg
    assert count_parameters(build_model(restored)) == 1_779_212


def test_unknown_arch_and_pooling_are_user_errors():
    with pytest.raises(KanjinetError, match="--arch"):
        model_config("resnet")
    with pytest.raises(KanjinetError, match="--pooling"):
        model_config(pooling="median")


def test_checkpoint_round_trip(tmp_path):
    cfg = model_config("kanjinet-small", num_classes=5, image_size=32)
    model = build_model(cfg).eval()
    path = save_checkpoint(
        tmp_path / "m.pth",
        model,
        cfg,
        class_jis=list(CLASS_JIS[10:15]),
        normalization={"size": 32},
        train_config={"epochs": 1},
        metrics={"val_accuracy": 0.5},
    )
    ckpt = load_checkpoint(path)
    assert ckpt.model_config == cfg
    assert ckpt.class_jis == list(CLASS_JIS[10:15])
    assert ckpt.class_indices == [10, 11, 12, 13, 14]
    assert ckpt.normalization == {"size": 32}
    assert ckpt.metrics == {"val_accuracy": 0.5}
    assert not ckpt.model.training
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ckpt.model(x), model(x))
    assert not list(tmp_path.glob("*.tmp"))  # atomic write left nothing behind
    # Loadable without pickled code.
    torch.load(path, weights_only=True)


def test_a_checkpoint_of_the_preset_under_its_former_name_seed_loads(tmp_path):
    """`--arch original` was called `seed`: checkpoints written then say so."""
    from kanjinet.training.checkpoint import atomic_torch_save, read_checkpoint_file

    cfg = model_config("original", num_classes=4, image_size=32)
    model = build_model(cfg).eval()
    path = save_checkpoint(tmp_path / "m.pth", model, cfg, list(CLASS_JIS[:4]), {"size": 32})
    payload = read_checkpoint_file(path)
    payload["model_config"]["arch"] = "seed"
    atomic_torch_save(payload, path)
    ckpt = load_checkpoint(path)
    assert ckpt.model_config == cfg and ckpt.model_config.arch == "original"
    assert model_config("seed", num_classes=4, image_size=32) == cfg


def test_load_checkpoint_errors_name_the_file(tmp_path):
    with pytest.raises(KanjinetError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pth")
    bare = tmp_path / "bare.pth"
    torch.save(build_model(model_config("original", num_classes=3)).state_dict(), bare)
    with pytest.raises(KanjinetError, match=r"bare\.pth: not a kanjinet checkpoint"):
        load_checkpoint(bare)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a zip")
    with pytest.raises(KanjinetError, match=r"junk\.pth"):
        load_checkpoint(junk)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("fixed", [False, True])
def test_exported_ops_load_and_run_in_tract(tmp_path, arch, fixed):
    tract = pytest.importorskip("tract")
    import numpy as np

    cfg = model_config(arch, num_classes=30, image_size=32)
    model = build_model(cfg).eval()
    if fixed:
        model = with_fixed_pooling(model)
    path = tmp_path / "m.onnx"
    x = torch.rand(1, 1, 32, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript route tract needs
        torch.onnx.export(
            model, (x,), str(path), dynamo=False, opset_version=12, input_names=["input"]
        )
    import onnx

    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    if fixed:
        assert not ops & {"GlobalAveragePool", "GlobalMaxPool", "ReduceMean"}
    inference_model = tract.onnx().load(str(path))
    inference_model.set_input_fact(0, "1,1,32,32,f32")
    runnable = inference_model.into_model().into_runnable()
    got = runnable.run([x.numpy()])[0].to_numpy()
    with torch.no_grad():
        np.testing.assert_allclose(got, model(x).numpy(), rtol=1e-4, atol=1e-5)


def test_a_file_holding_python_objects_is_refused_without_unsafe_advice(tmp_path):
    import argparse

    from kanjinet.core.errors import KanjinetError
    from kanjinet.training.checkpoint import read_checkpoint_file

    path = tmp_path / "pickled.pth"
    torch.save({"format": "kanjinet-checkpoint", "x": argparse.Namespace(a=1)}, path)
    with pytest.raises(KanjinetError) as error:
        read_checkpoint_file(path)
    message = str(error.value)
    assert "pickled.pth: not a kanjinet checkpoint" in message
    assert "weights_only" not in message


def test_the_tract_profile_names_where_batch_1_time_goes():
    """bench_inference.py --profile: the shipped network's op kinds, slowest first; its 6
    depthwise convolutions (`kanjinet-lean`) are one kind of them."""
    pytest.importorskip("tract")
    from kanjinet.inference.shipped import REFERENCE_MODEL

    rows = bench_module("bench_inference").profile_rows(REFERENCE_MODEL, runs=2)
    nodes = {kind: count for kind, count, _ in rows}
    assert nodes["DepthWiseConv"] == 6 and nodes["OptMatMul"] > 8
    times = [ms for _, _, ms in rows]
    assert times == sorted(times, reverse=True) and sum(times) > 0
