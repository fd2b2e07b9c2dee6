#!/usr/bin/env python3
"""Make an int8 (static, QDQ) copy of a Glimpse backbone folder and measure it against fp32.

The source folder (model.onnx, labels.txt, manifest.toml, as written by
tools/export_backbone.py) is quantized with ONNX Runtime's quantize_static: QDQ format,
weights int8 per output channel, activations uint8 per tensor, activation ranges calibrated
on Flickr8k TRAIN photos (never the test split) preprocessed exactly as Glimpse does it
(EXIF orientation, RGB, squash-resize to S x S bilinear, (x - mean) / std, CHW float32);
check photos that are also in the train split are left out of the calibration. Only Conv,
Add and Clip are quantized (plus the classifier Gemm with --quantize-classifier): the pooled
`features` and their concatenation stay float, so the graph's signature is the fp32 one.
Before quantizing, each conv's bias is corrected for the mean shift that its int8 weights
cause (empirical bias correction on the calibration photos); on EfficientNet-Lite this
matters more than the calibration method, as the int8 weights, not the uint8 activations,
cause most of the error.

The int8 graph is then checked against the fp32 one on the photos in ../shared/photos
(per-photo cosine of `features`, max |diff| of features and logits, top-1 agreement of
logits) and both graphs are timed with ONNX Runtime on the CPU (batch 16, 2 threads by
default, fp32 and int8 runs interleaved). The output folder gets model.onnx, labels.txt and
a manifest.toml with the same input/normalisation/output sections, the check results in
[export_check] and the quantization settings and measurements in [quantization].

onnxruntime's quantization tools are a one-off tool dependency of this script: they are
never needed to build, run or test Glimpse. Set up a venv once (anywhere outside the build;
tools/.venv is git-ignored):

    python3 -m venv tools/.venv
    tools/.venv/bin/pip install -r tools/requirements-quantize.txt

Quantize the default backbone (from the repository root):

    tools/.venv/bin/python tools/quantize_backbone.py \\
        --src models/backbones/efficientnet-lite012 \\
        --out models/backbones/efficientnet-lite012-int8

(about 6 minutes and 5 GB of memory on 2 cores; the defaults are the settings that measured
best: percentile 99.999 calibration on 256 photos, bias correction, stem convs in float).

Options worth knowing: --method minmax|percentile|entropy (calibration method),
--calibration N (number of train photos, the first N of a shuffle seeded with --seed),
--keep-float stem,head|none (keep each network's first conv and/or last 1x1 conv in float),
--exclude-nodes NAME,... (any other node names to keep in float), --no-bias-correction,
--quantize-classifier, --no-bench.
"""

import argparse
import hashlib
import math
import shutil
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process
from PIL import Image, ImageOps

from manifest_toml import toml_float3, toml_floats, toml_strings

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DEFAULT_PHOTOS = SHARED / "photos"
DEFAULT_TRAIN_LIST = SHARED / "flickr8k" / "Flickr8k_text" / "Flickr_8k.trainImages.txt"
DEFAULT_IMAGES = SHARED / "flickr8k" / "Flicker8k_Dataset"
DEFAULT_METHOD = "percentile"  # measured best on efficientnet-lite012 (with bias correction)
METHODS = {
    "minmax": CalibrationMethod.MinMax,
    "percentile": CalibrationMethod.Percentile,
    "entropy": CalibrationMethod.Entropy,
}
OP_TYPES = ["Conv", "Add", "Clip"]
CLASSIFIER_OP = "Gemm"
CALIB_BATCH = 8  # photos per calibration run; ranges are merged every CALIB_BATCH photos


def fail(message):
    sys.exit(f"error: {message}")


def display(path):
    """A path relative to the repository when it is inside it, for messages and the manifest."""
    try:
        return Path(path).resolve().relative_to(REPO).as_posix()
    except ValueError:
        return str(path)


def preprocess(path, size, mean, std):
    """What Glimpse does: EXIF orientation, RGB, squash to size x size (bilinear),
    (x - mean) / std on the 0-255 scale, CHW float32."""
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image).convert("RGB")
        image = image.resize((size, size), Image.Resampling.BILINEAR)
        x = np.asarray(image, dtype=np.float32)
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def calibration_photos(train_list, images, count, seed, check_names):
    """The first `count` photos of the train split, shuffled with a fixed seed; photos that are
    also among the check photos are left out."""
    if not train_list.is_file():
        fail(f"train split list {train_list} is missing")
    names = sorted({line.strip() for line in train_list.read_text().splitlines() if line.strip()}
                   - set(check_names))
    missing = [n for n in names if not (images / n).is_file()]
    if missing:
        fail(f"{len(missing)} train photos are missing from {images} (e.g. {missing[0]})")
    if count > len(names):
        fail(f"--calibration {count} is more than the {len(names)} train photos")
    order = np.random.default_rng(seed).permutation(len(names))
    return [images / names[i] for i in order[:count]]


class PhotoReader(CalibrationDataReader):
    """Feeds preprocessed photos in batches of CALIB_BATCH; set_range/len let quantize_static
    calibrate chunk by chunk (CalibStridedMinMax), so that the intermediate outputs of all
    photos are never held in memory at once."""

    def __init__(self, input_name, batches):
        self.input_name = input_name
        self.batches = batches
        self.set_range(0, len(batches))

    def __len__(self):
        return len(self.batches)

    def set_range(self, start_index, end_index):
        self.pending = iter(self.batches[start_index:end_index])

    def get_next(self):
        batch = next(self.pending, None)
        return None if batch is None else {self.input_name: batch}


HALF_MIN_VALUES = 16384


def half_weights(model):
    """Stores every float32 initializer of at least HALF_MIN_VALUES values (after
    quantization, only the classifier's float weights are left that large) as float16
    (`NAME.f16`), read back to float32 by a Cast: the rule Glimpse's own graphs follow
    (src/onnx/graph.rs). Returns the names stored so."""
    casts, names = [], []
    for tensor in model.graph.initializer:
        if tensor.data_type != onnx.TensorProto.FLOAT or math.prod(tensor.dims) < HALF_MIN_VALUES:
            continue
        values = onnx.numpy_helper.to_array(tensor).astype(np.float16)
        name = tensor.name
        tensor.CopyFrom(onnx.numpy_helper.from_array(values, f"{name}.f16"))
        casts.append(onnx.helper.make_node("Cast", [f"{name}.f16"], [name], name=f"Cast_{name}",
                                           to=onnx.TensorProto.FLOAT))
        names.append(name)
    nodes = list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(casts + nodes)
    return names


def conv_nodes_by_role(model):
    """Node names of the first conv (reads the graph input) and the last 1x1 conv before the
    global pool (feeds, through its activation, a ReduceMean) of each network in the graph."""
    consumers = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    graph_inputs = {i.name for i in model.graph.input}
    stem, head = [], []
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        if node.input[0] in graph_inputs:
            stem.append(node.name)
        after = consumers.get(node.output[0], [])
        while len(after) == 1 and after[0].op_type in ("Clip", "Relu"):
            after = consumers.get(after[0].output[0], [])
        if after and all(n.op_type == "ReduceMean" for n in after):
            head.append(node.name)
    return {"stem": stem, "head": head}


def int8_weights(w, qmax):
    """Conv weights as ONNX Runtime quantizes them here (symmetric per output channel,
    [-qmax, qmax], scale max|w| / qmax), dequantized."""
    absmax = np.abs(w).reshape(w.shape[0], -1).max(1)
    scale = np.where(absmax == 0, 1.0, absmax / qmax).astype(np.float32).reshape(-1, 1, 1, 1)
    return (np.clip(np.rint(w / scale), -qmax, qmax) * scale).astype(np.float32)


def bias_correct(model, batches, input_name, tmp_dir, threads, skip, qmax):
    """Empirical bias correction (Nagel et al. 2019, "Data-Free Quantization"): the int8
    weights shift the mean of each conv's output by E[conv(x, Wq - W)]; subtract that from
    the conv's bias, with E over the calibration photos and the fp32 inputs x of the conv
    (zero padding included). Convs named in `skip` (kept in float) are left alone. Returns a
    corrected copy of `model` and the number of convs corrected."""
    convs = [n for n in model.graph.node if n.op_type == "Conv" and n.name not in skip]
    inits = {t.name: t for t in model.graph.initializer}
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    outputs = {o.name for o in probe.graph.output}
    for name in dict.fromkeys(n.input[0] for n in convs):
        if name not in outputs and name != input_name:
            probe.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    path = Path(tmp_dir) / "probe.onnx"
    onnx.save(probe, str(path))
    sess = session(path, threads)
    names = [o.name for o in sess.get_outputs()]
    geometry = {}
    for node in convs:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET") \
                or any(d != 1 for d in attrs.get("dilations", [1, 1])):
            fail(f"bias correction: {node.name} uses auto_pad or dilation")
        kh, kw = onnx.numpy_helper.to_array(inits[node.input[1]]).shape[2:]
        geometry[node.name] = (kh, kw, attrs.get("pads", [0, 0, 0, 0]), attrs.get("strides", [1, 1]))
    sums, count = {}, 0
    for batch in batches:
        values = dict(zip(names, sess.run(None, {input_name: batch})))
        values[input_name] = batch
        for node in convs:
            x = values[node.input[0]]
            kh, kw, (top, left, bottom, right), (sh, sw) = geometry[node.name]
            xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
            ho = (xp.shape[2] - kh) // sh + 1
            wo = (xp.shape[3] - kw) // sw + 1
            m = np.empty((x.shape[1], kh, kw), np.float64)
            for i in range(kh):
                for j in range(kw):
                    tap = xp[:, :, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw]
                    m[:, i, j] = tap.sum(axis=(0, 2, 3), dtype=np.float64) / (ho * wo)
            sums[node.name] = sums.get(node.name, 0) + m
        count += len(batch)
    del sess
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    inits = {t.name: t for t in fixed.graph.initializer}
    for node in convs:
        w = onnx.numpy_helper.to_array(inits[node.input[1]])
        bias = inits[node.input[2]]
        b = onnx.numpy_helper.to_array(bias)
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        o, cg = w.shape[:2]
        dw = (int8_weights(w, qmax) - w).astype(np.float64).reshape(group, o // group, cg, *w.shape[2:])
        m = (sums[node.name] / count).reshape(group, cg, *w.shape[2:])
        shift = np.einsum("gocij,gcij->go", dw, m).reshape(o)
        bias.CopyFrom(onnx.numpy_helper.from_array((b - shift).astype(np.float32), bias.name))
    return fixed, len(convs)


def session(path, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_photos(sess, photos, size, mean, std, batch=8):
    features, logits = [], []
    for start in range(0, len(photos), batch):
        x = np.stack([preprocess(p, size, mean, std) for p in photos[start:start + batch]])
        f, l = sess.run(["features", "logits"], {"input": x})
        features.append(f)
        logits.append(l)
    return np.concatenate(features), np.concatenate(logits)


def compare(fp32_path, int8_path, photos, size, mean, std, threads):
    ref_f, ref_l = run_photos(session(fp32_path, threads), photos, size, mean, std)
    q_f, q_l = run_photos(session(int8_path, threads), photos, size, mean, std)
    cos = np.sum(ref_f * q_f, 1) / (np.linalg.norm(ref_f, axis=1) * np.linalg.norm(q_f, axis=1))
    result = {
        "cos_min": float(cos.min()),
        "cos_mean": float(cos.mean()),
        "diff_features": float(np.abs(ref_f - q_f).max()),
        "diff_logits": float(np.abs(ref_l - q_l).max()),
        "top1": int((ref_l.argmax(1) == q_l.argmax(1)).sum()),
        "photos": len(photos),
    }
    worst = photos[int(cos.argmin())].name
    print(f"{len(photos)} photos, int8 vs fp32: cosine of features min {result['cos_min']:.4f} "
          f"({worst}), mean {result['cos_mean']:.4f}; max |diff| features "
          f"{result['diff_features']:.3g}, logits {result['diff_logits']:.3g}; "
          f"top-1 agreement {result['top1']}/{len(photos)}")
    return result


def bench(paths, batch_input, threads, repeats, seconds):
    """img/s of each graph at one batch; the graphs take turns so that a busy machine slows
    them alike. Returns the best and the median rate of `repeats` timings of each."""
    sessions = {name: session(path, threads) for name, path in paths.items()}
    feed = {"input": batch_input}
    for sess in sessions.values():
        for _ in range(2):
            sess.run(None, feed)
    rates = {name: [] for name in paths}
    for _ in range(repeats):
        for name, sess in sessions.items():
            runs, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds or runs < 3:
                sess.run(None, feed)
                runs += 1
            rates[name].append(len(batch_input) * runs / (time.perf_counter() - start))
    result = {name: (max(r), float(np.median(r))) for name, r in rates.items()}
    for name, (best, median) in result.items():
        print(f"ORT CPU, {threads} threads, batch {len(batch_input)}, {name}: {median:6.1f} img/s "
              f"median of {repeats}, best {best:6.1f}")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", required=True, type=Path, help="fp32 backbone folder")
    parser.add_argument("--out", required=True, type=Path, help="output folder for the int8 copy")
    parser.add_argument("--method", choices=sorted(METHODS), default=DEFAULT_METHOD,
                        help=f"activation range calibration ({DEFAULT_METHOD})")
    parser.add_argument("--percentile", type=float, default=99.999,
                        help="percentile method only: the percentile kept (99.999)")
    parser.add_argument("--calibration", type=int, default=256, metavar="N",
                        help="number of Flickr8k train photos to calibrate on (256)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the train photo shuffle (0)")
    parser.add_argument("--keep-float", default="stem",
                        help="comma list of stem,head: keep each network's first conv and/or "
                             "last 1x1 conv (before the global pool) in float; 'none' for "
                             "neither (stem)")
    parser.add_argument("--exclude-nodes", default="",
                        help="comma list of further node names to keep in float")
    parser.add_argument("--quantize-classifier", action="store_true",
                        help="also quantize the classifier (Gemm): a smaller file, `features` "
                             "unchanged, `logits` less exact")
    parser.add_argument("--train-list", type=Path, default=DEFAULT_TRAIN_LIST,
                        help=f"Flickr8k train split file list (default {DEFAULT_TRAIN_LIST})")
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES,
                        help=f"Flickr8k photo folder (default {DEFAULT_IMAGES})")
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS,
                        help=f"JPEGs to check the int8 graph on (default {DEFAULT_PHOTOS})")
    parser.add_argument("--threads", type=int, default=2, help="ORT intra-op threads (2)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timings of each graph, taking turns (3)")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of one timing (4)")
    parser.add_argument("--no-bias-correction", action="store_true",
                        help="skip the empirical bias correction of the int8 convs")
    parser.add_argument("--no-bench", action="store_true", help="skip the timing")
    parser.add_argument("--full-range", action="store_true",
                        help="int8 weights on [-127, 127] instead of the 7-bit [-64, 64], which keeps "
                             "the AVX2 u8 x s8 kernels (vpmaddubsw, no VNNI) from saturating")
    args = parser.parse_args()

    src, out = args.src, args.out
    if src.resolve() == out.resolve():
        fail("--out must differ from --src")
    manifest_path = src / "manifest.toml"
    if not manifest_path.is_file():
        fail(f"{manifest_path} is missing")
    manifest = tomllib.loads(manifest_path.read_text())
    fp32 = src / manifest["graph"]
    if hashlib.sha256(fp32.read_bytes()).hexdigest() != manifest["sha256"]:
        fail(f"{fp32} does not match the sha256 in {manifest_path}")
    size = manifest["input"]["size"]
    mean, std = manifest["normalize"]["mean"], manifest["normalize"]["std"]
    input_name = manifest["input"]["name"]
    if input_name != "input" or manifest["features"]["output"] != "features" \
            or manifest.get("logits", {}).get("output") != "logits":
        fail("expected input `input` and outputs `features` and `logits`")
    photos = sorted(p for p in args.photos.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")) \
        if args.photos.is_dir() else []
    if not photos:
        fail(f"no photos to check on in {args.photos}")

    tmp = tempfile.TemporaryDirectory(prefix="quantize_backbone.")
    prepped = Path(tmp.name) / "prepped.onnx"
    quant_pre_process(str(fp32), str(prepped), skip_symbolic_shape=True)
    model = onnx.load(str(prepped))
    roles = conv_nodes_by_role(model)
    keep = [k for k in args.keep_float.split(",") if k and k != "none"]
    for k in keep:
        if k not in roles:
            fail(f"--keep-float {k}: expected stem and/or head")
    excluded = [n for k in keep for n in roles[k]]
    known = {n.name for n in model.graph.node}
    for name in (n for n in args.exclude_nodes.split(",") if n):
        if name not in known:
            fail(f"--exclude-nodes: no node named {name}")
        if name not in excluded:
            excluded.append(name)
    print(f"{display(src)}: {len(model.graph.node)} nodes; stems {roles['stem']}, "
          f"heads {roles['head']}; kept in float: {excluded or 'none'}")
    del model

    chosen = calibration_photos(args.train_list, args.images, args.calibration, args.seed,
                                [p.name for p in photos])
    start = time.perf_counter()
    stacked = np.stack([preprocess(p, size, mean, std) for p in chosen])
    batches = [stacked[i:i + CALIB_BATCH] for i in range(0, len(stacked), CALIB_BATCH)]
    print(f"calibration: {len(chosen)} Flickr8k train photos (seed {args.seed}), "
          f"preprocessed in {time.perf_counter() - start:.1f} s")

    op_types = OP_TYPES + ([CLASSIFIER_OP] if args.quantize_classifier else [])
    method = METHODS[args.method]
    method_text = args.method if args.method != "percentile" else f"percentile {args.percentile}"
    extra = {"CalibStridedMinMax": 1}  # one batch at a time (any method, despite the name)
    if args.method == "percentile":
        extra["CalibPercentile"] = args.percentile

    weight_qmax = 127 if args.full_range else 64
    bias_text = "none"
    if not args.no_bias_correction:
        start = time.perf_counter()
        fixed, corrected = bias_correct(onnx.load(str(prepped)), batches, input_name, tmp.name,
                                        args.threads, set(excluded), weight_qmax)
        onnx.save(fixed, str(prepped))
        del fixed
        bias_text = f"empirical, fp32 inputs of the {len(chosen)} calibration photos"
        print(f"bias correction of {corrected} convs in {time.perf_counter() - start:.0f} s")

    out.mkdir(parents=True, exist_ok=True)
    for name in ("model.onnx", "labels.txt", "manifest.toml"):
        (out / name).unlink(missing_ok=True)
    graph = out / "model.onnx"
    start = time.perf_counter()
    quantize_static(
        str(prepped),
        str(graph),
        PhotoReader(input_name, batches),
        quant_format=QuantFormat.QDQ,
        op_types_to_quantize=op_types,
        per_channel=True,
        weight_type=QuantType.QInt8,
        activation_type=QuantType.QUInt8,
        calibrate_method=method,
        nodes_to_exclude=excluded,
        reduce_range=not args.full_range,
        extra_options=extra,
    )
    tmp.cleanup()
    del batches, stacked
    print(f"quantized ({method_text}) in {time.perf_counter() - start:.0f} s")
    proto = onnx.load(str(graph))
    for item in [*proto.graph.node, *proto.graph.initializer]:
        del item.metadata_props[:]
    del proto.metadata_props[:]
    if proto.ir_version > 10:
        proto.ir_version = 10
    halved = half_weights(proto)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(graph))
    ops = {}
    for node in proto.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    print(f"wrote {graph}: {graph.stat().st_size / 1e6:.2f} MB; "
          f"{ops.get('QuantizeLinear', 0)} QuantizeLinear, {ops.get('DequantizeLinear', 0)} DequantizeLinear")

    sess = session(graph, args.threads)
    got = ([(i.name, i.type, i.shape[1:]) for i in sess.get_inputs()],
           [(o.name, o.type, o.shape[1:]) for o in sess.get_outputs()])
    want = ([("input", "tensor(float)", [3, size, size])],
            [("features", "tensor(float)", [manifest["features"]["dim"]]),
             ("logits", "tensor(float)", [1000])])
    if got != want:
        fail(f"int8 graph signature {got} != {want}")
    del sess

    check = compare(fp32, graph, photos, size, mean, std, args.threads)
    if not all(math.isfinite(v) for v in check.values()):
        fail(f"int8 outputs are not finite: {check}")

    speed = None
    if not args.no_bench:
        x = np.stack([preprocess(p, size, mean, std) for p in photos[:16]])
        rates = bench({"fp32": fp32, "int8": graph}, x, args.threads, args.repeats, args.seconds)
        speed = {
            "fp32": rates["fp32"][1],
            "int8": rates["int8"][1],
            "ratio": rates["int8"][1] / rates["fp32"][1],
        }
        print(f"int8 / fp32: {speed['ratio']:.2f}x (medians)")

    shutil.copyfile(src / manifest["logits"]["labels"], out / "labels.txt")
    sha256 = hashlib.sha256(graph.read_bytes()).hexdigest()
    name = out.resolve().name
    bench_lines = ""
    if speed:
        bench_lines = f"""# ORT CPU, intra_op_num_threads = {args.threads}, batch 16, photos; median of {args.repeats}
# timings of {args.seconds:g} s, fp32 and int8 taking turns
fp32_img_per_s = {speed['fp32']:.1f}
int8_img_per_s = {speed['int8']:.1f}
speedup = {speed['ratio']:.2f}
"""
    text = f"""format = {manifest['format']}
name = "{name}"
description = "int8 version of {manifest['name']} (static QDQ quantization): {manifest['description']}"
source = "{display(src)} (sha256 {manifest['sha256'][:12]}...), quantized by tools/quantize_backbone.py"
license = "{manifest['license']}"
graph = "model.onnx"
sha256 = "{sha256}"

[input]
name = "{input_name}"
size = {size}
resize = "{manifest['input']['resize']}"

[normalize]
# applied to RGB values on the 0-255 scale: (x - mean) / std, per channel R, G, B
mean = {toml_floats(mean)}
std = {toml_floats(std)}

[features]
output = "features"
dim = {manifest['features']['dim']}

[logits]
output = "logits"
labels = "labels.txt"

[export_check]
reference = "fp32 {manifest['name']}, onnxruntime {ort.__version__}, CPU"
max_abs_diff_features = {toml_float3(check['diff_features'])}
max_abs_diff_logits = {toml_float3(check['diff_logits'])}
top1_agreement = "{check['top1']}/{check['photos']} photos"

[quantization]
tool = "onnxruntime {ort.__version__} quantize_static (after quant_pre_process)"
format = "QDQ"
weights = "{'int8 [-127, 127]' if args.full_range else 'int8 reduced to [-64, 64] (reduce_range: no saturation in AVX2 kernels without VNNI)'}, per channel"
activations = "uint8, per tensor"
op_types = {toml_strings(op_types)}
calibration_method = "{method_text}"
calibration_photos = {len(chosen)}
calibration_set = "Flickr8k train (first {len(chosen)} of a shuffle with seed {args.seed})"
# --keep-float {",".join(keep) or "(none)"}: stem = each network's first conv, head = its last 1x1 conv
kept_float = {toml_strings(excluded)}
# float32 weights of at least {HALF_MIN_VALUES} values stored as float16 (read through a Cast)
float16_weights = {toml_strings(halved)}
bias_correction = "{bias_text}"
# int8 vs fp32 on the {check['photos']} check photos
cosine_features_min = {check['cos_min']:.4f}
cosine_features_mean = {check['cos_mean']:.4f}
{bench_lines}"""
    (out / "manifest.toml").write_text(text)
    tomllib.loads(text)
    print(f"wrote {out / 'labels.txt'} and {out / 'manifest.toml'} (sha256 {sha256})")


if __name__ == "__main__":
    main()
