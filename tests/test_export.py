"""export: ONNX per backend from a tiny trained checkpoint, verified in onnxruntime and tract."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from unittest import mock

import numpy as np
import onnx
import pytest
import torch

from kanjinet.cli import main
from kanjinet.core.errors import KanjinetError
from kanjinet.export.backends import BACKENDS, GLOBAL_POOLS
from kanjinet.export.exporter import export_checkpoint
from kanjinet.export.onnx_info import inspect_onnx
from kanjinet.export.settings import ExportConfig
from kanjinet.export.trace import export_onnx, plan_pooling
from kanjinet.inference.engines import OnnxruntimeEngine, TractEngine, open_engine
from kanjinet.inference.mappingfile import mapping_path
from kanjinet.inference.onnxfile import INPUT_NAME
from kanjinet.script_aliases import OriginalExportConfig, run_original_export
from kanjinet.training.checkpoint import load_safetensors

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def one_torch_thread():
    """Two threads on two cores shared with other work oversubscribe badly (10x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    """Synthetic 24 classes x 100 writers at 32 x 32: the writer split holds out 240 samples,
    so the int8 check's 99% allows two flips, not zero (the shared 10-writer set holds
    out 24: one near-tie flip there would fail it)."""
    from kanjinet.data.prepare import PrepareConfig, prepare_dataset
    from kanjinet.synthesis.synth import SynthConfig, synthesize

    etl, out = tmp_path_factory.mktemp("etl-100w"), tmp_path_factory.mktemp("dataset-100w")
    synthesize(SynthConfig(out=etl, writers=100, classes=24, seed=0, workers=1))
    prepare_dataset(PrepareConfig(etl_dir=etl, output_dir=out, size=32, workers=1))
    return out


@pytest.fixture(scope="module")
def tiny_checkpoint(dataset_dir, tmp_path_factory, fitted_small_model) -> Path:
    """A real `kanjinet train` run (5 epochs of 60 steps), the checkpoint export starts from."""
    with one_torch_thread():
        return fitted_small_model(dataset_dir, tmp_path_factory.mktemp("train"), epochs=5)


@pytest.fixture(scope="module")
def exports(tiny_checkpoint, dataset_dir, tmp_path_factory) -> dict:
    """One verified export per backend (tract with int8 and NNEF too, ort-tract with
    safetensors)."""
    out = tmp_path_factory.mktemp("export")
    extras = {
        "tract": {"quantize": "int8", "format": "nnef"},
        "ort-tract": {"format": "safetensors"},
    }
    reports = {}
    for backend in BACKENDS:
        extra = extras.get(backend, {})
        cfg = ExportConfig(
            model_path=tiny_checkpoint,
            onnx_path=out / backend / "kanji_etl9g_model.onnx",
            data_dir=dataset_dir,
            target_backend=backend,
            **extra,
        )
        reports[backend] = export_checkpoint(cfg)
    return reports


def ops_of(path: Path) -> set[str]:
    return {node.op_type for node in onnx.load(str(path)).graph.node}


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_export_per_backend_opset_ops_and_verification(exports, backend):
    report = exports[backend]
    assert report.ok, [c for c in report.checks if not c.ok]
    model = onnx.load(str(report.files["onnx"]))
    opset = {o.domain: o.version for o in model.opset_import}[""]
    assert opset == BACKENDS[backend].opset
    ops = ops_of(report.files["onnx"])
    if backend == "tract":
        assert "GlobalAveragePool" in ops  # kanjinet-small's squeeze-excitation and head
    else:
        assert not ops & GLOBAL_POOLS
        assert "AveragePool" in ops
        assert any("fixed_avg" in note for note in report.notes)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [1, 32, 32]
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["normalization"])["name"] == "kanjinet.normalize"
    assert meta["kanjinet.backend"] == backend


def test_parity_in_onnxruntime_and_tract_independently(exports, tiny_checkpoint):
    """Recompute what the report claims: both runtimes match PyTorch on other inputs."""
    from kanjinet.training.checkpoint import load_checkpoint

    model = load_checkpoint(tiny_checkpoint).model
    x = np.random.default_rng(5).random((6, 1, 32, 32), dtype=np.float32)
    with torch.no_grad():
        reference = model(torch.from_numpy(x)).numpy()
    for report in exports.values():
        for engine in (OnnxruntimeEngine(report.files["onnx"]), TractEngine(report.files["onnx"])):
            logits = engine.logits(x)
            assert np.abs(logits - reference).max() < 1e-4
            assert (logits.argmax(1) == reference.argmax(1)).all()


def test_held_out_samples_are_the_training_runs_test_split(tiny_checkpoint, dataset_dir):
    """export's parity/accuracy figures and `evaluate --split test` describe the same writers."""
    from kanjinet.data.dataset import load_prepared
    from kanjinet.export.samples import load_samples
    from kanjinet.training.checkpoint import load_checkpoint
    from kanjinet.training.settings import select_samples

    checkpoint = load_checkpoint(tiny_checkpoint)
    data = load_prepared(dataset_dir)
    samples = load_samples(dataset_dir, checkpoint, n_verify=10_000, n_int8=10_000)
    test = select_samples("test", checkpoint, data)
    train = select_samples("train", checkpoint, data)
    assert len(test) and set(data.writers[test]).isdisjoint(data.writers[train])
    assert sorted(samples.labels.tolist()) == sorted(data.labels[test].tolist())
    held = {x.tobytes() for x in (samples.held_out * 255).round().astype(np.uint8)}
    assert held == {x.tobytes() for x in data.images[test]}
    assert len(samples.int8_data) == len(train)


def test_mapping_file(exports):
    report = exports["tract"]
    path = report.files["mapping"]
    assert path == mapping_path(report.files["onnx"])
    assert path.name == "kanji_etl9g_mapping.json"
    mapping = json.loads(path.read_text(encoding="utf-8"))
    n = mapping["num_classes"]
    assert n == 24
    for key in ("class_to_jis", "class_to_unicode", "class_to_char", "class_to_strokes"):
        assert sorted(mapping[key], key=int) == [str(i) for i in range(n)]
    for i in map(str, range(n)):
        char = mapping["class_to_char"][i]
        assert f"{ord(char):04X}" == mapping["class_to_unicode"][i]
        euc = char.encode("euc_jp")
        assert mapping["class_to_jis"][i] == f"{((euc[0] & 0x7F) << 8) | (euc[1] & 0x7F):04X}"
        assert mapping["class_to_strokes"][i] >= 1
    assert mapping["input"]["shape"] == ["batch", 1, 32, 32]
    assert mapping["input"]["normalization"]["name"] == "kanjinet.normalize"
    assert "ink 1.0" in mapping["input"]["polarity"]
    info = mapping["model_info"]
    assert info["synthetic_data"] is True
    assert "SYNTHETIC" in info["export_check_accuracy"]["measured_on"]


def test_int8_size_agreement_and_runtimes(exports):
    report = exports["tract"]
    names = {c.name: c for c in report.checks}
    assert names["int8 onnxruntime loads and runs"].ok
    assert names["int8 tract loads and runs"].ok
    assert report.int8.size_bytes <= 0.30 * report.info.size_bytes
    ops = ops_of(report.files["int8"])
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert not any(n.domain for n in onnx.load(str(report.files["int8"])).graph.node)
    x = np.random.default_rng(6).random((4, 1, 32, 32), dtype=np.float32)
    # tract with a fixed batch-1 fact (what an app does) loads the int8 file too.
    TractEngine(report.files["int8"], batch=1).logits(x[:1])


def test_int8_logits_float_and_biases_corrected(exports, tiny_checkpoint, dataset_dir, tmp_path):
    """The logits are not re-quantized (a Gemm writes the output, not a DequantizeLinear),
    the stem conv stays float; bias correction removes the mean int8 - fp32 logit shift on the
    int8 calibration data and lowers the logit error on held-out samples."""
    from kanjinet.export.quantize import output_nodes, quantize_int8
    from kanjinet.export.samples import load_samples
    from kanjinet.inference.engines import logits_of
    from kanjinet.training.checkpoint import load_checkpoint

    fp32, int8 = exports["tract"].files["onnx"], exports["tract"].files["int8"]
    graph = onnx.load(str(int8)).graph
    assert [n.op_type for n in output_nodes(graph)] == ["Gemm"]
    # The stem conv reads the float input and float weights (no DequantizeLinear before it).
    stem = next(n for n in graph.node if n.op_type == "Conv")
    producers = {out: n.op_type for n in graph.node for out in n.output}
    assert stem.input[0] == INPUT_NAME and stem.input[1] not in producers
    samples = load_samples(dataset_dir, load_checkpoint(tiny_checkpoint), 240, 256)
    with mock.patch(
        "kanjinet.export.quantize.correct_biases"
    ):  # the same quantization, uncorrected
        quantize_int8(fp32, tmp_path / "uncorrected.onnx", samples.int8_data)

    def rms(values: np.ndarray) -> float:
        return float(np.sqrt((values**2).mean()))

    at_fp32 = logits_of(fp32, samples.int8_data)
    shift_after = (logits_of(int8, samples.int8_data) - at_fp32).mean(0)
    shift_before = (logits_of(tmp_path / "uncorrected.onnx", samples.int8_data) - at_fp32).mean(0)
    assert rms(shift_after) < 0.2 * rms(shift_before), (rms(shift_after), rms(shift_before))
    held_out = logits_of(fp32, samples.held_out)
    error_after = rms(logits_of(int8, samples.held_out) - held_out)
    error_before = rms(logits_of(tmp_path / "uncorrected.onnx", samples.held_out) - held_out)
    assert error_after < error_before, (error_after, error_before)


def test_agreement_check_detail():
    """Fails below 99%; says how int8 did where fp32 was sure, and both accuracies."""
    from kanjinet.export.verify import agreement_check

    fp32 = np.zeros((100, 3), np.float32)
    fp32[:50, 0] = 5.0  # sure of class 0
    fp32[50:, 0], fp32[50:, 1] = 0.01, 0.0  # a near-tie between 0 and 1
    int8 = fp32.copy()
    int8[50:52, 1] = 0.02  # two near-ties flip
    check = agreement_check("int8 x", int8, fp32, np.zeros(100, np.int64))
    assert not check.ok
    assert check.detail.startswith("98.0% of 100 held-out")
    assert "agree on 100.0% of the 50 where fp32 softmax > 0.5" in check.detail
    assert "top-1 accuracy fp32 100.0%, int8 98.0%" in check.detail
    assert agreement_check("int8 x", fp32, fp32, np.zeros(100, np.int64)).ok


def test_int8_of_untrained_model_with_shared_biases(tmp_path):
    """Untrained weights: the exporter shares the equal (zero) folded biases between
    layers through Identity nodes; each layer's correction must stay its own."""
    from kanjinet.export.quantize import quantize_int8
    from kanjinet.inference.engines import logits_of
    from kanjinet.training.model import build_model, model_config

    cfg = model_config("kanjinet-small", num_classes=10, image_size=32)
    torch.manual_seed(0)
    info = export_onnx(build_model(cfg).eval(), cfg, tmp_path / "m.onnx", "tract")
    fp32 = onnx.load(str(info.path))
    assert "Identity" in {n.op_type for n in fp32.graph.node}  # the sharing this test is about
    x = np.random.default_rng(0).random((64, 1, 32, 32), dtype=np.float32)
    int8 = quantize_int8(info.path, tmp_path / "m.int8.onnx", x)
    onnx.checker.check_model(str(int8.path), full_check=True)
    graph = onnx.load(str(int8.path)).graph
    biases = [n.input[2] for n in graph.node if n.op_type in ("Conv", "Gemm") and len(n.input) > 2]
    assert len(biases) == len(set(biases))
    assert "Identity" not in {n.op_type for n in graph.node}  # dropped once unused
    shift = (logits_of(int8.path, x) - logits_of(info.path, x)).mean(0)
    assert np.abs(shift).max() < 1e-3
    TractEngine(int8.path).logits(x[:2])


def test_safetensors_round_trip(exports, tiny_checkpoint):
    from kanjinet.training.checkpoint import load_checkpoint

    path = exports["ort-tract"].files["safetensors"]
    assert path.read_bytes()[:8] != b"PK\x03\x04"  # not a zip/pickle torch file
    restored = load_safetensors(path)
    original = load_checkpoint(tiny_checkpoint)
    assert restored.class_jis == original.class_jis
    assert restored.model_config == original.model_config
    x = torch.rand(3, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(restored.model(x), original.model(x))


def test_nnef_round_trip_without_onnx(exports, tiny_checkpoint):
    """The NNEF archives load with tract.nnef() alone (tract-core only, no ONNX parser), run,
    and match PyTorch and the ONNX file in tract on inputs the export did not check."""
    from kanjinet.export.nnef import nnef_extensions
    from kanjinet.inference.engines import TractNnefEngine
    from kanjinet.training.checkpoint import load_checkpoint

    report = exports["tract"]
    fixed, dynamic = report.files["nnef"], report.files["nnef_dynbatch"]
    assert (fixed.name, dynamic.name) == (
        "kanji_etl9g_model.nnef.tgz",
        "kanji_etl9g_model.dynbatch.nnef.tgz",
    )
    names = {c.name: c for c in report.checks}
    for label in ("nnef batch-1", "nnef dynamic batch"):
        assert names[f"{label} loads and runs (tract.nnef only)"].ok
        assert names[f"{label} logits vs PyTorch"].ok and names[f"{label} top-1 vs PyTorch"].ok
    assert set(nnef_extensions(fixed)) <= {"tract_registry tract_core", "tract_symbol batch"}
    x = np.random.default_rng(7).random((5, 1, 32, 32), dtype=np.float32)
    with torch.no_grad():
        reference = load_checkpoint(tiny_checkpoint).model(torch.from_numpy(x)).numpy()
    onnx_in_tract = TractEngine(report.files["onnx"]).logits(x)
    single = TractNnefEngine(fixed)
    batch_1 = np.concatenate([single.logits(x[i : i + 1]) for i in range(len(x))])
    any_batch = TractNnefEngine(dynamic).logits(x)
    for logits in (batch_1, any_batch, TractNnefEngine(dynamic, batch=5).logits(x)):
        assert np.abs(logits - reference).max() < 1e-4
        assert np.abs(logits - onnx_in_tract).max() < 1e-4
        assert (logits.argmax(1) == reference.argmax(1)).all()
    with pytest.raises(KanjinetError, match="as NNEF"):
        TractNnefEngine(report.files["onnx"])
    with pytest.raises(KanjinetError, match="NNEF archive is for apps on tract-nnef"):
        open_engine(fixed)  # predict: one clear line, not an unpickling error


def test_nnef_deliverables_in_mapping_and_int8_explained(exports):
    report = exports["tract"]
    mapping = json.loads(report.files["mapping"].read_text(encoding="utf-8"))
    files = mapping["files"]
    assert files["nnef"]["file"] == "kanji_etl9g_model.nnef.tgz"
    assert "batch fixed to 1" in files["nnef"]["use"] and "tract-nnef" in files["nnef"]["use"]
    assert files["nnef_dynbatch"]["file"] == "kanji_etl9g_model.dynbatch.nnef.tgz"
    assert files["onnx"]["file"] == "kanji_etl9g_model.onnx"
    assert files["int8"]["file"] == "kanji_etl9g_model.int8.onnx"
    assert "mapping" not in files
    if "int8_nnef" in report.files:  # a tract whose NNEF writer serialises the int8 graph
        assert {c.name: c for c in report.checks}["int8 nnef top-1 vs fp32 >= 99%"].ok
    else:
        (note,) = [n for n in report.notes if n.startswith("int8 NNEF not written")]
        assert "QuantizeLinear" in note and "kanji_etl9g_model.int8.onnx" in note


def test_pooling_requests():
    assert plan_pooling("adaptive_avg", None, "tract") == (False, [])
    rewrite, notes = plan_pooling("adaptive_avg", "fixed_avg", "tract")
    assert rewrite and "exact rewrite" in notes[0]
    assert plan_pooling("adaptive_max", None, "strict")[0]
    with pytest.raises(KanjinetError, match="needs different weights"):
        plan_pooling("adaptive_avg", "avg_2x2", "tract")
    with pytest.raises(KanjinetError, match="needs different weights"):
        plan_pooling("adaptive_avg", "adaptive_max", "ort-tract")


def test_refused_pooling_via_cli(tiny_checkpoint, dataset_dir, tmp_path, capsys):
    status = main(
        [
            "export",
            "--model-path", str(tiny_checkpoint),
            "--onnx-path", str(tmp_path / "m.onnx"),
            "--data-dir", str(dataset_dir),
            "--pooling-type", "avg_2x2",
        ]
    )  # fmt: skip
    assert status == 2
    err = capsys.readouterr().err
    assert "avg_2x2" in err and "needs different weights" in err and "Traceback" not in err
    assert not (tmp_path / "m.onnx").exists()


def test_equivalent_pooling_rewrite_for_tract(tiny_checkpoint, dataset_dir, tmp_path):
    report = export_checkpoint(
        ExportConfig(
            model_path=tiny_checkpoint,
            onnx_path=tmp_path / "fixed_model.onnx",
            data_dir=dataset_dir,
            pooling_type="fixed_avg",
        )
    )
    assert report.ok
    assert report.info.pooling == "fixed_avg"
    assert not ops_of(report.files["onnx"]) & GLOBAL_POOLS


def test_cli_export_prints_table_and_fails_on_bad_parity(
    tiny_checkpoint, dataset_dir, tmp_path, capsys, monkeypatch
):
    args = [
        "export",
        "--model-path", str(tiny_checkpoint),
        "--onnx-path", str(tmp_path / "kanji_etl9g_model.onnx"),
        "--data-dir", str(dataset_dir),
        "--target-backend", "strict",
    ]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "verification passed" in out and "tract logits vs PyTorch" in out
    before = contents(tmp_path)
    import kanjinet.export.verify

    monkeypatch.setattr(kanjinet.export.verify, "PARITY_TOLERANCE", -1.0)  # nothing can pass
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "VERIFICATION FAILED" in out and "replaced" not in out
    assert "the earlier export is left as it was" in out
    assert contents(tmp_path) == before  # the good pair kept, nothing left beside it


def contents(folder: Path) -> dict[str, bytes]:
    """Every file and folder under `folder` (relative name -> bytes; b"/" for a folder)."""
    return {
        p.relative_to(folder).as_posix(): b"/" if p.is_dir() else p.read_bytes()
        for p in sorted(folder.rglob("*"))
    }


def earlier_pair(exports: dict, folder: Path) -> Path:
    """A copy of a verified export (model + mapping) in `folder`: what a new export must
    not lose."""
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    for key in ("onnx", "mapping"):
        shutil.copy(exports["strict"].files[key], folder)
    return folder / exports["strict"].files["onnx"].name


def changed_checkpoint(source: Path, out: Path, change) -> Path:
    payload = torch.load(source, map_location="cpu", weights_only=True)
    change(payload)
    torch.save(payload, out)
    return out


def export_args(checkpoint: Path, onnx_path: Path, dataset_dir: Path) -> list[str]:
    return ["export", "--model-path", str(checkpoint), "--onnx-path", str(onnx_path),
            "--data-dir", str(dataset_dir), "--target-backend", "strict"]  # fmt: skip


@pytest.mark.parametrize("flag", ["--int8-samples", "--calibration-samples"])
def test_int8_samples_take_the_flag_and_its_old_spelling(flag, tmp_path, capsys):
    """--calibration-samples, the flag's name before "calibration" came to mean temperature
    scaling only, still sets how many training samples the int8 calibration data holds."""
    from kanjinet.cli import build_parser
    from kanjinet.core.options import config_from_args

    args = build_parser("export").parse_args(["export", flag, "7"])
    assert config_from_args(ExportConfig, args).int8_samples == 7
    assert main(["export", "--model-path", str(tmp_path / "none.pth"), flag, "0"]) == 2
    assert "--int8-samples 0: must be at least 1" in capsys.readouterr().err


def poison(payload: dict) -> None:
    weight = next(k for k, v in payload["state_dict"].items() if v.is_floating_point())
    payload["state_dict"][weight][0] = float("nan")


def shorten_class_table(payload: dict) -> None:
    payload["class_jis"] = payload["class_jis"][:-1]


@pytest.mark.parametrize(
    ("change", "message"),
    [(poison, "not finite numbers"), (shorten_class_table, "entries for")],
)
def test_a_bad_checkpoint_is_refused_and_the_earlier_export_kept(
    exports, tiny_checkpoint, dataset_dir, tmp_path, capsys, change, message
):
    """NaN weights over a good model used to replace it with one that answers `あ nan%`;
    a class table shorter than the outputs passed verification."""
    target = earlier_pair(exports, tmp_path / "out")
    bad = changed_checkpoint(tiny_checkpoint, tmp_path / "bad.pth", change)
    before = contents(target.parent)
    assert main(export_args(bad, target, dataset_dir)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and str(bad) in captured.err
    assert message in captured.err
    assert contents(target.parent) == before


def test_a_kill_or_a_traceback_mid_export_leaves_the_earlier_pair(
    exports, tiny_checkpoint, dataset_dir, tmp_path, monkeypatch
):
    """kill -9 during verification, then a crash during verification: the earlier model
    and mapping stay as they were; the killed run's staging folder goes with the next run."""
    import subprocess
    import sys

    target = earlier_pair(exports, tmp_path / "out")
    before = contents(target.parent)
    script = (
        "import os, sys, kanjinet.export.exporter as e\n"
        "e.check_runtimes = lambda *a: os.kill(os.getpid(), 9)\n"
        "from kanjinet.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    args = export_args(tiny_checkpoint, target, dataset_dir)
    killed = subprocess.run([sys.executable, "-c", script, *args], capture_output=True)
    assert killed.returncode == -9, killed.stderr
    left = contents(target.parent)
    assert {k: v for k, v in left.items() if not k.startswith(".kn-export-")} == before
    assert any(k.startswith(".kn-export-") for k in left)  # what the kill left behind
    import kanjinet.export.exporter

    def crash(*args):
        raise RuntimeError("a bug mid-verification")

    monkeypatch.setattr(kanjinet.export.exporter, "check_runtimes", crash)
    with pytest.raises(RuntimeError, match="mid-verification"):
        main(args)
    assert contents(target.parent) == before


def test_inspect_own_and_foreign_files(exports, tmp_path, capsys):
    text = inspect_onnx(exports["strict"].files["onnx"])
    assert "ai.onnx 11" in text and "AveragePool" in text
    assert "strict       yes" in text and "tract        yes" in text
    text = inspect_onnx(exports["tract"].files["onnx"])
    assert "ort-tract    no" in text and "GlobalAveragePool" in text
    # A file made elsewhere: onnx.helper, opset 13, one Relu.
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n", 4])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["n", 4])],
    )
    foreign = tmp_path / "foreign.onnx"
    onnx.save(
        onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 13)]), foreign
    )
    assert main(["onnx-info", str(foreign)]) == 0
    out = capsys.readouterr().out
    assert "Relu" in out and "ai.onnx 13" in out and "onnxruntime  yes" in out
    not_onnx = tmp_path / "junk.onnx"
    not_onnx.write_bytes(b"\x00junk")
    with pytest.raises(KanjinetError, match="junk.onnx"):
        inspect_onnx(not_onnx)


def test_export_onnx_in_memory_model_leaves_model_alone(tmp_path):
    from kanjinet.training.model import build_model, model_config

    cfg = model_config("kanjinet-small", num_classes=10, image_size=32)
    model = build_model(cfg).train()
    info = export_onnx(model, cfg, tmp_path / "m.onnx", "ort-tract")
    assert info.path.stat().st_size == info.size_bytes and info.opset == 11
    assert model.training and isinstance(model.pool, torch.nn.AdaptiveAvgPool2d)
    assert not set(info.op_counts) & GLOBAL_POOLS


def test_errors_name_the_file(tmp_path, dataset_dir, tiny_checkpoint):
    with pytest.raises(KanjinetError, match="missing.pth"):
        export_checkpoint(ExportConfig(model_path=tmp_path / "missing.pth", data_dir=dataset_dir))
    with pytest.raises(KanjinetError, match="image-size 64"):
        run_original_export(
            OriginalExportConfig(model_path=tiny_checkpoint, data_dir=dataset_dir, image_size=64)
        )
    with pytest.raises(KanjinetError, match="not a prepared dataset"):
        export_checkpoint(
            ExportConfig(
                model_path=tiny_checkpoint, onnx_path=tmp_path / "m.onnx", data_dir=tmp_path
            )
        )


def test_a_dataset_too_small_to_hold_out_a_writer_is_refused_by_name(tmp_path, tiny_checkpoint):
    from kanjinet.data.prepare import PrepareConfig, prepare_dataset
    from kanjinet.synthesis.synth import SynthConfig, synthesize

    etl, two = tmp_path / "etl", tmp_path / "two-writers"
    synthesize(SynthConfig(out=etl, writers=2, classes=24, seed=3, workers=1))
    prepare_dataset(PrepareConfig(etl_dir=etl, output_dir=two, size=32, workers=1))
    with pytest.raises(
        KanjinetError, match="two-writers: .*no test or validation sample among its 2"
    ):
        export_checkpoint(
            ExportConfig(model_path=tiny_checkpoint, onnx_path=tmp_path / "m.onnx", data_dir=two)
        )


def test_shipped_files_name_the_dataset_not_the_trainers_paths(exports, dataset_dir):
    from kanjinet.data.dataset import identity, load_prepared

    report = exports["tract"]
    text = Path(report.files["mapping"]).read_text(encoding="utf-8")
    trained_on = json.loads(text)["model_info"]["trained_on"]
    assert trained_on == identity(dataset_dir, load_prepared(dataset_dir).metadata)
    model = onnx.load(str(report.files["onnx"]))
    shipped = text + "".join(p.value for p in model.metadata_props)
    assert str(dataset_dir) not in shipped and str(dataset_dir.parent) not in shipped


def test_export_defaults_beside_the_model_and_says_what_it_replaced(
    tiny_checkpoint, dataset_dir, exports
):
    default = ExportConfig(model_path=tiny_checkpoint)
    assert default.onnx_path == tiny_checkpoint.parent / "kanji_etl9g_model.onnx"
    again = export_checkpoint(
        ExportConfig(
            model_path=tiny_checkpoint,
            onnx_path=exports["strict"].files["onnx"],
            data_dir=dataset_dir,
            target_backend="strict",
        )
    )
    replaced = [n for n in again.notes if n.startswith("replaced an earlier export: ")]
    assert {n.split(": ", 1)[1] for n in replaced} == {
        str(again.files["onnx"]),
        str(again.files["mapping"]),
    }
