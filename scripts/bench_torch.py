"""PyTorch CPU twins of pretext's whole-step bench rows (src/bench/bert.rs), to put beside them in BENCHMARKS.md.

Each twin trains the same model on the same shapes with the same loss and optimizer as its pretext row: forward,
backward and an AdamW update (lr 1e-4, weight decay 0.01), dropout as the config says, median wall time of the
steps after one warm-up step. Prints one JSON object per row, like `pretext bench --json`, with the thread count.

  bert_tiny_step        BERT, vocab 8192, hidden 128, 2 layers, 2 heads, FFN 512; batch 16, seq 64; masked-LM
                        logits only at the 15% masked positions (the tied decoder on the gathered hidden states)
  bert_base_step        BERT-base (hidden 768, 12 layers, 12 heads, FFN 3072, vocab 30522); batch 8, seq 128;
                        logits at the 15% masked positions
  minilm_finetune_step  all-MiniLM-L6-v2 (data/minilm) as BertForSequenceClassification, 2 classes (pooler,
                        dropout, linear head); batch 16, seq 64

Usage: /work/venv/bin/python scripts/bench_torch.py [--filter NAME] [--reps N] [--minilm DIR]
(a venv with torch and transformers: `pip install torch transformers safetensors`).
"""
import argparse
import json
import os
import statistics
import time

import torch
from transformers import BertConfig, BertForMaskedLM, BertForSequenceClassification


def mlm_batch(gen, vocab, batch, seq):
    """Random words with [CLS] = 2 and [SEP] = 3, 15% of the words chosen for prediction (at least one per row),
    80% of those replaced by [MASK] = 4, as pretext's data::mlm::mask."""
    ids = torch.randint(5, vocab, (batch, seq), generator=gen)
    ids[:, 0], ids[:, -1] = 2, 3
    chosen = torch.rand((batch, seq), generator=gen) < 0.15
    chosen[:, 0] = chosen[:, -1] = False
    chosen[torch.arange(batch), torch.randint(1, seq - 1, (batch,), generator=gen)] = True
    positions = chosen.flatten().nonzero().squeeze(1)
    targets = ids.flatten()[positions].clone()
    masked = ids.clone().flatten()
    replace = torch.rand(positions.shape, generator=gen) < 0.8
    masked[positions[replace]] = 4
    return masked.view(batch, seq), positions, targets


def time_steps(step, reps):
    step()  # warm-up
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        step()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def mlm_row(name, shape, config, batch, seq, reps):
    torch.manual_seed(1)
    model = BertForMaskedLM(config).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    gen = torch.Generator().manual_seed(1)

    def step():
        ids, positions, targets = mlm_batch(gen, config.vocab_size, batch, seq)
        hidden = model.bert(input_ids=ids).last_hidden_state
        picked = hidden.reshape(-1, config.hidden_size)[positions]
        logits = model.cls(picked)
        loss = torch.nn.functional.cross_entropy(logits, targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return {"kernel": name, "shape": shape, "ms": time_steps(step, reps)}


def minilm_row(directory, reps):
    torch.manual_seed(1)
    model = BertForSequenceClassification.from_pretrained(directory, num_labels=2).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    gen = torch.Generator().manual_seed(1)
    batch, seq = 16, 64

    def step():
        ids = torch.randint(1000, 30000, (batch, seq), generator=gen)
        ids[:, 0], ids[:, -1] = 101, 102
        labels = torch.arange(batch) % 2
        loss = model(input_ids=ids, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return {"kernel": "minilm_finetune_step", "shape": "16x64", "ms": time_steps(step, reps)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--filter", default="")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--minilm", default=os.path.join(os.path.dirname(__file__), "..", "data", "minilm"))
    args = ap.parse_args()
    tiny = BertConfig(vocab_size=8192, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=512, max_position_embeddings=64)
    rows = [
        ("bert_tiny_step", lambda: mlm_row("bert_tiny_step", "16x64", tiny, 16, 64, args.reps)),
        ("bert_base_step", lambda: mlm_row("bert_base_step", "8x128", BertConfig(), 8, 128, min(args.reps, 3))),
        ("minilm_finetune_step", lambda: minilm_row(args.minilm, min(args.reps, 5))),
    ]
    for name, run in rows:
        if args.filter in name:
            row = run()
            row.update({"framework": f"torch {torch.__version__} CPU", "threads": torch.get_num_threads()})
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
