#!/usr/bin/env python3
"""Measure a bridge from photos to words through the backbone's ImageNet labels, on Flickr8k dev.

The shipped text model knows a word never seen in training only through its GloVe vector
(the open vocabulary). The backbone also names 1,000 ImageNet classes per photo; this script
asks whether those names help a caption whose word no training caption has. It runs the
shipped graphs (backbone, image head, text encoder) through ONNX Runtime on the dev photos
and captions, ranks as search does (cosine less the photo's offset), and adds to each score
`lam` times one of two bridges:

- conse: the photo as the probability-weighted mean of its top-T labels' GloVe vectors
  (ConSE, Norouzi et al. 2014), by cosine with the mean GloVe vector of the caption's words
  (all of them, or only those outside the 4,500 trained words);
- labels: the probability of the best of the photo's top-T labels whose name holds one of
  the caption's words (plural "s" dropped, common words left out).

It prints text -> image R@1/5/10 over all dev captions and over those with a word no
training caption has (what `glimpse eval --json` reports as `unseen_words`). Preprocessing
is PIL's bilinear squash, not Glimpse's, so the baseline differs from `glimpse eval` by a few
tenths. One-off: never needed to build, run or test Glimpse. From the repository root:

    python3 -m venv tools/.venv
    tools/.venv/bin/pip install -r tools/requirements-quantize.txt
    tools/.venv/bin/python tools/measure_label_bridge.py --flickr8k ../shared/flickr8k \
        --glove ../shared/glove/glove.6B.50d.100k.txt.gz
"""

import argparse
import collections
import gzip
import json
import re

import numpy as np
import onnxruntime as ort
from PIL import Image

BACKBONE = "models/backbones/efficientnet-lite012-int8"
MODEL = "models/text"
COMMON = set(
    "in the on is and with of two to at an his are her while their its for from by one three four "
    "into near other as up down out over front some next".split()
)


def words(text):
    """Glimpse's tokenizer (src/text/tokenizer.rs): lowercase alphanumeric runs, single letters dropped."""
    return [w for w in re.findall(r"[^\W_]+", text.lower()) if not (len(w) == 1 and w.isalpha())]


def stem(word):
    return word[:-1] if word.endswith("s") and len(word) > 3 else word


def read_split(root):
    text = f"{root}/Flickr8k_text"
    train = set(open(f"{text}/Flickr_8k.trainImages.txt").read().split())
    dev = open(f"{text}/Flickr_8k.devImages.txt").read().split()
    captions = collections.defaultdict(list)
    for line in open(f"{text}/Flickr8k.token.txt"):
        if "\t" in line:
            key, caption = line.rstrip("\n").split("\t")
            captions[key.split("#")[0]].append(caption)
    seen = {w for name in train for c in captions.get(name, []) for w in words(c)}
    return dev, captions, seen


def embed(root, dev, captions):
    options = ort.SessionOptions()
    backbone = ort.InferenceSession(f"{BACKBONE}/model.onnx", options)
    size = backbone.get_inputs()[0].shape[2]
    features, logits = [], []
    for start in range(0, len(dev), 16):
        batch = []
        for name in dev[start : start + 16]:
            photo = Image.open(f"{root}/Flicker8k_Dataset/{name}").convert("RGB").resize((size, size), Image.BILINEAR)
            batch.append(((np.asarray(photo, np.float32) - 127) / 128).transpose(2, 0, 1))
        f, l = backbone.run(None, {"input": np.stack(batch)})
        features.append(f)
        logits.append(l)
    head = ort.InferenceSession(f"{MODEL}/image_head.onnx", options)
    photos, offsets = head.run(None, {"features": np.concatenate(features)})
    vocab = json.load(open(f"{MODEL}/vocab.json"))
    ids = {w: i + 2 for i, w in enumerate(vocab["words"])}
    texts, truth = [], []
    for row, name in enumerate(dev):
        for caption in captions[name]:
            texts.append(caption)
            truth.append(row)
    encoded = np.zeros((len(texts), vocab["settings"]["seq_len"]), np.int64)
    for k, caption in enumerate(texts):
        known = [ids[w] for w in words(caption) if w in ids][: encoded.shape[1]]
        encoded[k, : len(known)] = known
    encoder = ort.InferenceSession(f"{MODEL}/text_encoder.onnx", options)
    queries = np.concatenate([encoder.run(None, {"ids": encoded[i : i + 500]})[0] for i in range(0, len(texts), 500)])
    trained = set(vocab["words"][: vocab["settings"]["max_words"]])
    return np.concatenate(logits), photos, offsets, queries, texts, np.array(truth), trained


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flickr8k", required=True)
    parser.add_argument("--glove", required=True)
    args = parser.parse_args()
    dev, captions, seen = read_split(args.flickr8k)
    logits, photos, offsets, queries, texts, truth, trained = embed(args.flickr8k, dev, captions)
    unseen = np.array([any(w not in seen for w in words(t)) for t in texts])
    labels = [line.strip() for line in open(f"{BACKBONE}/labels.txt")]
    glove = {}
    for line in gzip.open(args.glove, "rt", encoding="utf8"):
        parts = line.rstrip().split(" ")
        glove[parts[0]] = np.array(parts[1:], np.float32)

    def unit(rows):
        return rows / np.maximum(np.linalg.norm(rows, axis=-1, keepdims=True), 1e-9)

    def mean_glove(ws):
        vs = [glove[w] for w in ws if w in glove]
        return np.mean(vs, 0) if vs else np.zeros(len(next(iter(glove.values()))), np.float32)

    def report(scores, name):
        true = scores[np.arange(len(scores)), truth]
        ranks = (scores > true[:, None]).sum(1)
        recall = lambda of: " / ".join(f"{100 * np.mean(ranks[of] < k):.2f}" for k in (1, 5, 10))
        print(f"| {name} | {recall(np.ones(len(ranks), bool))} | {recall(unseen)} |")

    base = queries @ photos.T - offsets[None, :]
    print(f"{len(texts)} dev captions, {unseen.sum()} with a word no training caption has")
    print("| bridge | all: R@1 / R@5 / R@10 | unseen words |")
    print("|---|---|---|")
    report(base, "none")
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    label_vectors = unit(np.stack([mean_glove(words(l)) for l in labels]))
    label_words = [{stem(w) for w in words(l)} for l in labels]
    for top in (5, 10):
        best = np.argsort(-probs, 1)[:, :top]
        conse = unit(np.stack([(probs[i, best[i]][:, None] * label_vectors[best[i]]).sum(0) for i in range(len(probs))]))
        for which in ("outside the trained words", "every word"):
            q = unit(np.stack([mean_glove([w for w in words(t) if which == "every word" or w not in trained]) for t in texts]))
            for lam in (0.02, 0.05, 0.1):
                report(base + lam * (q @ conse.T), f"conse, top {top}, {which}, lam {lam}")
    for top in (1, 5):
        best = np.argsort(-probs, 1)[:, :top]
        named = collections.defaultdict(list)
        for i in range(len(probs)):
            for t in best[i]:
                for w in label_words[t]:
                    named[w].append((i, probs[i, t]))
        for which in ("outside the trained words", "every word"):
            bonus = np.zeros_like(base)
            for k, t in enumerate(texts):
                for w in {stem(w) for w in words(t) if (which == "every word" or w not in trained) and w not in COMMON}:
                    for i, p in named.get(w, []):
                        bonus[k, i] = max(bonus[k, i], p)
            for lam in (0.05, 0.1):
                report(base + lam * bonus, f"labels, top {top}, {which}, lam {lam}")
    all_label_words = set().union(*label_words)
    reachable = sum(1 for k, t in enumerate(texts) if unseen[k] and any(stem(w) in all_label_words for w in words(t) if w not in seen))
    print(f"captions with an unseen word that names an ImageNet label: {reachable} of {unseen.sum()}")


if __name__ == "__main__":
    main()
