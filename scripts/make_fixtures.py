#!/usr/bin/env python3
"""make_fixtures.py: writes pretext's HF-parity fixtures into assets/fixtures/ (about 1 MB in all).

How to run (the venv lives OUTSIDE the repository and is never committed):

    python3 -m venv /work/venv-hf
    /work/venv-hf/bin/pip install torch transformers safetensors numpy   # PyPI's torch pulls ~5 GB of CUDA
                                       # libraries; `--no-deps` torch does not import without them. CPU runs it.
    scripts/fetch.sh                                   # data/minilm (all-MiniLM-L6-v2) is read below
    /work/venv-hf/bin/python scripts/make_fixtures.py  # rewrites assets/fixtures/

Made with torch 2.15.0+cu132 (run on the CPU), transformers 5.24.0, tokenizers 0.23.3, safetensors 0.8.0, numpy 2.4.6.
Deterministic: every random draw comes from torch.Generator / random.Random with the fixed seeds below, and
a rerun with the same versions writes identical files.

Numerics: every model is run in float64 (weights stored as f32, then converted exactly to f64) and the results
rounded to f32 when saved, so each fixture is the exact answer for its f32 weights, to f32 rounding: a pretext
f32 implementation should then be within its own rounding error of it.

Files:
  tokenizer_cases.json    {"versions": {...}, "cases": [{"text", "minilm_ids", "odd_ids", "embedding_row"}],
                           "legacy_disagreements": [{"tokenizer", "text", "ids", "legacy_ids"}]}
      minilm_ids: AutoTokenizer.from_pretrained("data/minilm")(text)["input_ids"]: the default call, which
                  does not pad or truncate although the tokenizer.json asks for 128 (one case is longer).
      odd_ids:    BertTokenizer.from_pretrained("assets/fixtures/bert_odd") (vocab.txt + tokenizer_config.json
                  only, no tokenizer.json). In transformers 5 BertTokenizer is the `tokenizers`-backed class;
                  the pure-python BertTokenizerLegacy is compared on every case (for MiniLM too) and agrees
                  except on "Ελληνικά: ΟΔΟΣ" for MiniLM: `tokenizers` lowercases char by char (Σ → σ) where
                  python's str.lower() writes a word-final ς; the fixture keeps the `tokenizers` ids
                  (what AutoTokenizer gives) and lists the disagreement under "legacy_disagreements".
      embedding_row: the row of `embeddings` in minilm_embeddings.safetensors, or null (empty text).
  minilm_embeddings.safetensors
      embeddings [N, 384] f32: AutoModel("data/minilm") on each non-empty case alone (no padding), mean over
                 its tokens weighted by the attention mask (all ones here), then L2-normalised: exactly
                 sentence-transformers' all-MiniLM-L6-v2 pipeline (Pooling mean + Normalize).
      case_index [N] i32: the case (index into "cases") of each row.
      last_hidden_state.case{i} [T_i, 384] f32 and input_ids.case{i} [T_i] i32 for two cases (debugging).
  bert_odd/  a BertForMaskedLM of an unusual shape (hidden 36, 3 heads of 12, intermediate 70, 2 layers,
             max_position 64, type_vocab 2, eps 1e-12, gelu (erf)), random weights, its own 150-token
             vocab.txt (no tokenizer.json): model.safetensors + config.json (save_pretrained), vocab.txt,
             tokenizer_config.json.
  bert_odd_expected.safetensors (eval mode)
      input_ids, attention_mask, token_type_ids [3, L] i32: rows 0 and 1 one sentence each, row 2 a sentence
             pair (token_type_ids 1 on the second segment and its [SEP]); shorter rows padded with [PAD] = 0
             (attention_mask 0, token_type_ids 0).
      hidden [3, L, 36] f32: last_hidden_state;  logits [3, L, V] f32: MLM logits. Padded positions are
             included as HF computes them (their queries attend to the unpadded keys of the row).
  bert_tiny_step.safetensors: one training step's forward + backward of a tiny BertForMaskedLM
             (hidden 32, 2 layers, 2 heads, intermediate 64, vocab 100, max_position 16, dropout 0)
      param.<name> for every model.named_parameters() entry (HF names, e.g.
             param.bert.embeddings.word_embeddings.weight), input_ids / attention_mask / token_type_ids /
             labels [3, 12] i32 (row 1 padded, labels -100 except ~15% of the real positions), loss [1] f32
             (mean cross-entropy over the labelled positions), grad.<name> for every parameter.
      Metadata "config": the BertConfig as JSON (also in bert_odd_expected.safetensors). Only one metadata key
      a file: safetensors writes its metadata map in random order, so two keys would make reruns differ.

Random weights: HF's init (normal(0, 0.02), LayerNorm 1 and 0, biases 0) is too bland to catch a swapped or
missing term, so every parameter is redrawn: weight matrices normal(0, 0.5/sqrt(fan_in)), embedding tables
normal(0, 0.5), biases normal(0, 0.1), LayerNorm weights 1 + normal(0, 0.1), LayerNorm biases normal(0, 0.1).

The tied MLM decoder (what transformers 5.24 does; pretext must do the same):
  - cls.predictions.decoder.weight IS bert.embeddings.word_embeddings.weight (one Parameter), and
    cls.predictions.decoder.bias IS cls.predictions.bias (one Parameter): logits = h @ E^T + bias.
  - model.named_parameters() lists each shared Parameter once, under bert.embeddings.word_embeddings.weight
    and cls.predictions.bias; so grad.bert.embeddings.word_embeddings.weight is the SUM of the embedding
    lookup's gradient and the decoder's gradient, and there is no param./grad. entry for
    cls.predictions.decoder.*.
  - save_pretrained writes neither cls.predictions.decoder.weight nor cls.predictions.decoder.bias into
    model.safetensors (state_dict() still has both); a loader must tie them (all-MiniLM-L6-v2 is a BertModel:
    it has no cls.*; its model.safetensors has no `bert.` prefix (embeddings.word_embeddings.weight, ...),
    a pooler (pooler.dense.*, unused by sentence-transformers) and an int64 buffer embeddings.position_ids).
  - BertForMaskedLM has no pooler (bert.pooler.* is absent).
"""
import json
import math
import os
import random
import re
import sys

import numpy as np
import torch
import transformers
import tokenizers
import safetensors
from safetensors.torch import save_file
from transformers import AutoModel, AutoTokenizer, BertConfig, BertForMaskedLM, BertTokenizer
from transformers.models.bert import BertTokenizerLegacy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MINILM = os.path.join(ROOT, "data", "minilm")
OUT = os.path.join(ROOT, "assets", "fixtures")
ODD = os.path.join(OUT, "bert_odd")

LONG_TEXT = (
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in "
    "want of a wife. However little known the feelings or views of such a man may be on his first entering a "
    "neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is "
    "considered the rightful property of some one or other of their daughters. \"My dear Mr. Bennet,\" said "
    "his lady to him one day, \"have you heard that Netherfield Park is let at last?\" Mr. Bennet replied that "
    "he had not. \"But it is,\" returned she; \"for Mrs. Long has just been here, and she told me all about it.\""
)

TEXTS = [
    "Hello, world!",
    "Café déjà vu",
    "The quick brown fox jumps over the lazy dog.",
    "I paid $3.50 for 2 coffees at 10:45 on 2024-06-01.",
    "unbelievable",
    "a",
    "北京欢迎你",
    "日本語のテキストと English mixed",
    "한국어 텍스트",
    "I love this movie 😍🍿!",
    "   lots   of\t\twhitespace \n\n here   ",
    "",
    LONG_TEXT,
    "Don't stop believin' — it's a \"quote\" (with brackets) [and more].",
    "ÀÉÎÕÜ àéîõü ñ ç ß",
    "The capital of France is [MASK].",
    "lowercase [mask] is not special but [SEP] is",
    "Supercalifragilisticexpialidocious",
    "x" * 101 + " short",
    "Ελληνικά: ΟΔΟΣ",
    "Straße naïve façade coöperate",
    "e-mail: someone@example.com, url: https://example.com/path?x=1&y=2",
    "The film's plot is thin, but the acting? Superb!!!",
    "zero\u200bwidth and\u00a0nbsp and soft\u00adhyphen",
    "tabs\tand\r\nnewlines\x00and a nul",
    "Numbers: 3.14159, 1,000,000 and 42nd.",
    "ﬁnancial ﬂow",
    "a good movie, not a bad film.",
    "i love the plot and the acting of this movie!",
    "The movie was boring, and the acting was worse.",
]

# bert_odd's vocabulary: 5 specials, punctuation, digits, a-z, ##a-##z, some words and pieces (150 tokens).
ODD_WORDS = (
    "the a an of and to is was it this that i you not but movie film plot acting good bad great love "
    "hate boring fun funny story end quick brown fox dog lazy over jumps hello world cafe deja vu "
    "capital france paris worse best"
).split()
ODD_PIECES = "##s ##ing ##ed ##ly ##er ##est ##ness".split()
ODD_SENTENCES = [
    ["the movie was great, i loved it!"],
    ["a boring film; the plot is not fun."],
    ["hello world.", "the quick brown fox jumps over the lazy dog!"],
]

TINY_SEED, ODD_SEED, DATA_SEED = 1234, 4321, 7


def odd_vocab():
    v = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    v += list(".,!?;:'\"-()")
    v += [str(d) for d in range(10)]
    v += [chr(c) for c in range(ord("a"), ord("z") + 1)]
    v += ["##" + chr(c) for c in range(ord("a"), ord("z") + 1)]
    v += [w for w in ODD_WORDS + ODD_PIECES if w not in v]
    v += ["[unused%d]" % i for i in range(150 - len(v))]
    assert len(v) == 150 and len(set(v)) == 150, len(v)
    return v


def randomise(model, seed):
    """Redraws every parameter (see the header) so that every term of the forward pass matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                new = 1 + 0.1 * torch.randn(p.shape, generator=g)
            elif name.endswith("bias") or "LayerNorm.bias" in name:
                new = 0.1 * torch.randn(p.shape, generator=g)
            elif "embeddings" in name:
                new = 0.5 * torch.randn(p.shape, generator=g)
            else:
                new = 0.5 / math.sqrt(p.shape[1]) * torch.randn(p.shape, generator=g)
            p.copy_(new.to(p.dtype))


def config_json(config):
    return json.dumps(config.to_diff_dict(), sort_keys=True)


def f32(t):
    return t.detach().to(torch.float32).contiguous()


def i32(t):
    return torch.as_tensor(t).to(torch.int32).contiguous()


def make_bert_odd():
    """Writes bert_odd/ and returns (BertTokenizer, vocab)."""
    os.makedirs(ODD, exist_ok=True)
    vocab = odd_vocab()
    with open(os.path.join(ODD, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in vocab))
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=36, num_hidden_layers=2, num_attention_heads=3,
        intermediate_size=70, max_position_embeddings=64, type_vocab_size=2, layer_norm_eps=1e-12,
        hidden_act="gelu", pad_token_id=0, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
    )
    torch.manual_seed(ODD_SEED)
    model = BertForMaskedLM(config)
    randomise(model, ODD_SEED)
    model.save_pretrained(ODD)
    # save_pretrained may leave a generation_config.json or similar: keep only what the fixture promises.
    for name in os.listdir(ODD):
        if name not in ("model.safetensors", "config.json", "vocab.txt"):
            os.remove(os.path.join(ODD, name))
    with open(os.path.join(ODD, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "tokenize_chinese_chars": True, "strip_accents": None,
                   "tokenizer_class": "BertTokenizer", "model_max_length": 64}, f, indent=2)
        f.write("\n")
    assert not os.path.exists(os.path.join(ODD, "tokenizer.json"))
    return BertTokenizer.from_pretrained(ODD), vocab


def bert_odd_expected(tok):
    """Runs bert_odd (reloaded from disk, float64, eval) on ODD_SENTENCES and saves the expected outputs."""
    model = BertForMaskedLM.from_pretrained(ODD, attn_implementation="eager").double().eval()
    rows = [tok(*s) for s in ODD_SENTENCES]
    L = max(len(r["input_ids"]) for r in rows)
    pad = lambda xs, v: xs + [v] * (L - len(xs))
    ids = i32([pad(r["input_ids"], tok.pad_token_id) for r in rows])
    mask = i32([pad(r["attention_mask"], 0) for r in rows])
    types = i32([pad(r["token_type_ids"], 0) for r in rows])
    with torch.no_grad():
        out = model(input_ids=ids.long(), attention_mask=mask.long(), token_type_ids=types.long(),
                    output_hidden_states=True)
    tensors = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types,
               "hidden": f32(out.hidden_states[-1]), "logits": f32(out.logits)}
    save_file(tensors, os.path.join(OUT, "bert_odd_expected.safetensors"),
              metadata={"config": config_json(model.config)})  # one key: safetensors orders keys at random
    return {k: list(v.shape) for k, v in tensors.items()}


def tokenizer_cases(minilm_tok, odd_tok):
    minilm_legacy = BertTokenizerLegacy(os.path.join(MINILM, "vocab.txt"), do_lower_case=True)
    odd_legacy = BertTokenizerLegacy(os.path.join(ODD, "vocab.txt"), do_lower_case=True)
    cases, disagreements = [], []
    for text in TEXTS:
        m, o = minilm_tok(text)["input_ids"], odd_tok(text)["input_ids"]
        for which, fast, legacy in (("minilm", m, minilm_legacy(text)["input_ids"]),
                                    ("odd", o, odd_legacy(text)["input_ids"])):
            if fast != legacy:
                disagreements.append((which, text, fast, legacy))
        cases.append({"text": text, "minilm_ids": m, "odd_ids": o})
    return cases, disagreements


def minilm_embeddings(tok, cases):
    model = AutoModel.from_pretrained(MINILM, attn_implementation="eager").double().eval()
    rows, index, debug = [], [], {}
    debug_cases = [0, 2]  # "Hello, world!" and the quick brown fox
    for i, case in enumerate(cases):
        if not case["text"]:
            case["embedding_row"] = None
            continue
        enc = tok(case["text"], return_tensors="pt")
        assert enc["input_ids"][0].tolist() == case["minilm_ids"]
        with torch.no_grad():
            h = model(**enc).last_hidden_state[0]  # [T, 384]
        m = enc["attention_mask"][0].to(h.dtype)[:, None]
        e = (h * m).sum(0) / m.sum().clamp(min=1e-9)
        e = e / e.norm().clamp(min=1e-12)
        case["embedding_row"] = len(rows)
        rows.append(e)
        index.append(i)
        if i in debug_cases:
            debug[f"last_hidden_state.case{i}"] = f32(h)
            debug[f"input_ids.case{i}"] = i32(enc["input_ids"][0])
    tensors = {"embeddings": f32(torch.stack(rows)), "case_index": i32(index), **debug}
    save_file(tensors, os.path.join(OUT, "minilm_embeddings.safetensors"),
              metadata={"pooling": "mean over attention mask, then L2 normalise"})
    return {k: list(v.shape) for k, v in tensors.items()}


def bert_tiny_step():
    config = BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=16, type_vocab_size=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        hidden_act="gelu", layer_norm_eps=1e-12, pad_token_id=0,
    )
    torch.manual_seed(TINY_SEED)
    model = BertForMaskedLM(config)
    model.config._attn_implementation = "eager"
    randomise(model, TINY_SEED)
    params32 = {n: f32(p) for n, p in model.named_parameters()}
    model = model.double().train()

    rng = random.Random(DATA_SEED)
    B, T = 3, 12
    lengths = [T, 8, T]  # row 1 is padded
    ids = [[2] + [rng.randrange(5, 100) for _ in range(n - 2)] + [3] + [0] * (T - n) for n in lengths]
    mask = [[1] * n + [0] * (T - n) for n in lengths]
    types = [[0] * (n // 2) + [1] * (n - n // 2) + [0] * (T - n) for n in lengths]
    labels = [[-100] * T for _ in range(B)]
    for b, n in enumerate(lengths):  # ~15% of the real positions, at least one a row
        picks = rng.sample(range(1, n - 1), max(1, round(0.15 * n)))  # not [CLS]/[SEP]
        for t in picks:
            labels[b][t] = ids[b][t]
            ids[b][t] = 4  # as if [MASK]ed
    ids, mask, types, labels = i32(ids), i32(mask), i32(types), i32(labels)
    out = model(input_ids=ids.long(), attention_mask=mask.long(), token_type_ids=types.long(),
                labels=labels.long())
    out.loss.backward()
    tensors = {f"param.{n}": p for n, p in params32.items()}
    tensors.update({"input_ids": ids, "attention_mask": mask, "token_type_ids": types, "labels": labels,
                    "loss": f32(out.loss.reshape(1))})  # f32 detaches
    for n, p in model.named_parameters():
        tensors[f"grad.{n}"] = f32(p.grad)
    save_file(tensors, os.path.join(OUT, "bert_tiny_step.safetensors"), metadata={"config": config_json(config)})
    shapes = {k: list(v.shape) for k, v in tensors.items() if not k.startswith(("param.", "grad."))}
    return out.loss.detach().item(), shapes, len(params32)


def main():
    if not os.path.isfile(os.path.join(MINILM, "model.safetensors")):
        sys.exit(f"{MINILM} is missing: run scripts/fetch.sh first")
    torch.use_deterministic_algorithms(True)
    os.makedirs(OUT, exist_ok=True)

    odd_tok, vocab = make_bert_odd()
    minilm_tok = AutoTokenizer.from_pretrained(MINILM)
    cases, disagreements = tokenizer_cases(minilm_tok, odd_tok)
    emb_shapes = minilm_embeddings(minilm_tok, cases)
    versions = {"torch": torch.__version__, "transformers": transformers.__version__,
                "tokenizers": tokenizers.__version__, "safetensors": safetensors.__version__,
                "numpy": np.__version__}
    with open(os.path.join(OUT, "tokenizer_cases.json"), "w", encoding="utf-8") as f:
        legacy = [{"tokenizer": w, "text": t, "ids": a, "legacy_ids": b} for w, t, a, b in disagreements]
        text = json.dumps({"versions": versions, "cases": cases, "legacy_disagreements": legacy},
                          ensure_ascii=False, indent=1)
        # one line per id list
        f.write(re.sub(r"\[(\n[-\d,\s]+)\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text) + "\n")
    odd_shapes = bert_odd_expected(odd_tok)
    loss, tiny_shapes, n_params = bert_tiny_step()

    from safetensors import safe_open
    with safe_open(os.path.join(ODD, "model.safetensors"), "pt") as f:
        saved = sorted(f.keys())
    print("versions:", versions)
    print(f"tokenizer cases: {len(cases)}, longest minilm {max(len(c['minilm_ids']) for c in cases)} ids")
    print("fast vs legacy BertTokenizer disagreements:", disagreements or "none")
    print("minilm_embeddings:", emb_shapes)
    print("bert_odd_expected:", odd_shapes)
    print("bert_odd/model.safetensors has cls.predictions.decoder.weight:",
          "cls.predictions.decoder.weight" in saved, "| decoder.bias:", "cls.predictions.decoder.bias" in saved)
    print(f"bert_tiny_step: loss {loss:.6f}, {n_params} parameters,", tiny_shapes)


if __name__ == "__main__":
    main()
