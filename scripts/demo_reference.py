"""The demo's experiment in PyTorch + transformers, as an independent reference for `pretext demo`.

It answers two questions quickly (PyTorch on 2 CPU cores runs the tiny preset about 5x faster than the engine on
lavapipe): is the demo's outcome the engine's doing or the recipe's, and which recipes would make pretraining win?

    cargo run --release --example demo_split -- runs/demo_split 2048      # the demo's split and vocabulary
    python scripts/demo_reference.py pretrain --split runs/demo_split --out pt.pt [--hidden 64 --steps 1200 ...]
    python scripts/demo_reference.py finetune --split runs/demo_split --pt pt.pt [--per 100 --steps 400 --lrs 1e-3,2e-3 --seeds 1,2]
    python scripts/demo_reference.py probe    --split runs/demo_split --pt pt.pt        # linear probes, every layer

Same model (HF BertForMaskedLM, post-LN, erf GELU, tied decoder), same masking (15%: 80/10/10, never specials),
same optimiser (AdamW, wd 0.01 except biases and LayerNorm weights, 10% warmup then linear decay, clip 1.0),
same packing, passages and labelled sample as src/demo.rs. Needs torch and transformers (a venv; see
scripts/make_fixtures.py). What it found is in the README ("Why pretraining does not win yet").
"""
import argparse
import json
import random
import time

import torch
import torch.nn.functional as F
from transformers import BertConfig, BertForMaskedLM, BertTokenizer

torch.set_num_threads(2)
NOVELS = 6


def load_split(d):
    split = json.load(open(f"{d}/split.json"))
    return split, BertTokenizer.from_pretrained(f"{d}/vocab")


def passages(text, words):
    w = text.split()
    return [" ".join(w[i:i + words]) for i in range(0, len(w), words) if len(w[i:i + words]) * 2 >= words]


def examples(split, tok, test, words, seq):
    """(ids, novel) per passage of `words` words, as src/demo.rs cuts them."""
    out = []
    for ch in split["chapters"]:
        if ch["test"] != test:
            continue
        for p in passages(ch["text"], words):
            ids = tok(p)["input_ids"]
            if len(ids) > seq:
                ids = ids[:seq - 1] + [split["special"]["sep"]]
            out.append((ids, ch["novel"]))
    return out


def labelled(ex, per):
    """An even sample of `per` passages of each novel (0 = all)."""
    if per == 0:
        return ex
    kept = []
    for n in range(NOVELS):
        of = [e for e in ex if e[1] == n]
        kept += of[::max(len(of) // per, 1)][:per]
    return kept


def pad(seqs):
    L = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), L, dtype=torch.long)
    m = torch.zeros(len(seqs), L)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
        m[i, :len(s)] = 1
    return ids, m


def mean_pool(h, m):
    return (h * m[..., None]).sum(1) / m.sum(1, keepdim=True)


def optimizer(model, lr, steps):
    nd = ["bias", "LayerNorm.weight"]
    groups = [{"params": [p for n, p in model.named_parameters() if not any(d in n for d in nd)], "weight_decay": 0.01},
              {"params": [p for n, p in model.named_parameters() if any(d in n for d in nd)], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=lr)
    warm = max(steps // 10, 1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: s / warm if s < warm else max(0.0, (steps - s) / (steps - warm)))
    return opt, sched


def pretrain(a):
    split, _ = load_split(a.split)
    sp, V = split["special"], split["vocab_size"]
    torch.manual_seed(a.seed)
    random.seed(a.seed)

    def pack(test):
        out = []
        for ch in split["chapters"]:
            if ch["test"] == test:
                ids = ch["ids"]
                out += [[sp["cls"]] + ids[i:i + a.seq - 2] + [sp["sep"]] for i in range(0, len(ids), a.seq - 2) if len(ids[i:i + a.seq - 2]) >= 8]
        return out
    train, held = pack(False), pack(True)
    held = held[::max(len(held) // 1024, 1)]
    special = torch.zeros(V, dtype=torch.bool)
    special[list(sp.values())] = True
    special[1] = True  # [UNK]

    def mask(batch, g=None):
        ids, am = pad(batch)
        sel = (torch.rand(ids.shape, generator=g) < 0.15) & ~special[ids] & (am > 0)
        r = torch.rand(ids.shape, generator=g)
        inp = ids.clone()
        inp[sel & (r < 0.8)] = sp["mask"]
        rnd = sel & (r >= 0.8) & (r < 0.9)
        inp[rnd] = torch.randint(5, V, ids.shape, generator=g)[rnd]
        return inp, am, ids, sel

    cfg = BertConfig(vocab_size=V, hidden_size=a.hidden, num_hidden_layers=a.layers, num_attention_heads=a.heads,
                     intermediate_size=a.ffn or 4 * a.hidden, max_position_embeddings=max(64, a.seq), initializer_range=a.init_std,
                     layer_norm_eps=1e-12, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.0)
    model = BertForMaskedLM(cfg)
    opt, sched = optimizer(model, a.lr, a.steps)

    def held_out():
        model.eval()
        g = torch.Generator().manual_seed(7)
        hit = n = 0
        with torch.no_grad():
            for i in range(0, len(held), 64):
                inp, am, ids, sel = mask(held[i:i + 64], g)
                h = model.bert(input_ids=inp, attention_mask=am).last_hidden_state
                hit += (model.cls(h[sel]).argmax(-1) == ids[sel]).sum().item()
                n += sel.sum().item()
        model.train()
        return hit / n

    t = time.time()
    for step in range(1, a.steps + 1):
        inp, am, ids, sel = mask([train[random.randrange(len(train))] for _ in range(a.batch)])
        h = model.bert(input_ids=inp, attention_mask=am).last_hidden_state
        loss = F.cross_entropy(model.cls(h[sel]), ids[sel])  # logits at the masked positions only, as the engine
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 200 == 0 or step == a.steps:
            print(f"step {step} loss {loss.item():.3f} held-out masked accuracy {held_out():.3f} ({time.time() - t:.0f} s)", flush=True)
    torch.save({"config": cfg.to_dict(), "state": model.state_dict()}, a.out)


def finetune(a):
    split, tok = load_split(a.split)
    ck = torch.load(a.pt)
    cfg = BertConfig(**ck["config"])
    train = labelled(examples(split, tok, False, a.words, a.seq), a.per)
    test = examples(split, tok, True, a.words, a.seq)
    test = test[::max(len(test) // a.max_test, 1)]

    def run(pretrained, lr, seed):
        torch.manual_seed(seed)
        random.seed(seed)
        mlm = BertForMaskedLM(cfg)
        if pretrained:
            mlm.load_state_dict(ck["state"])
            for layer in mlm.bert.encoder.layer[len(mlm.bert.encoder.layer) - a.reinit:]:
                layer.apply(mlm._init_weights)  # re-initialise the top layers (Zhang et al., 2021)
        bert = mlm.bert
        head = torch.nn.Linear(cfg.hidden_size, NOVELS)
        head.weight.data.normal_(0, cfg.initializer_range)
        head.bias.data.zero_()
        drop = torch.nn.Dropout(0.1)
        model = torch.nn.ModuleDict({"bert": bert, "head": head})
        opt, sched = optimizer(model, lr, a.steps)
        for _ in range(a.steps):
            batch = [train[random.randrange(len(train))] for _ in range(a.batch)]
            ids, m = pad([s for s, _ in batch])
            logits = head(drop(mean_pool(bert(input_ids=ids, attention_mask=m).last_hidden_state, m)))
            loss = F.cross_entropy(logits, torch.tensor([y for _, y in batch]))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
        model.eval()
        hit = 0
        with torch.no_grad():
            for i in range(0, len(test), 256):
                ids, m = pad([s for s, _ in test[i:i + 256]])
                pred = head(mean_pool(bert(input_ids=ids, attention_mask=m).last_hidden_state, m)).argmax(1)
                hit += (pred == torch.tensor([y for _, y in test[i:i + 256]])).sum().item()
        return hit / len(test)

    for lr in [float(x) for x in a.lrs.split(",")]:
        row = []
        for pretrained in (True, False):
            accs = [run(pretrained, lr, int(s)) for s in a.seeds.split(",")]
            row.append(f"{'pretrained' if pretrained else 'scratch'} {' '.join(f'{x:.3f}' for x in accs)} (mean {sum(accs) / len(accs):.3f})")
        print(f"lr {lr:g}, {a.steps} steps of {a.batch}, {len(train)} labelled: " + "; ".join(row), flush=True)


def probe(a):
    split, tok = load_split(a.split)
    ck = torch.load(a.pt)
    cfg = BertConfig(**ck["config"])
    train = labelled(examples(split, tok, False, a.words, a.seq), a.per)
    test = examples(split, tok, True, a.words, a.seq)[::3]

    def features(model, ex):
        model.eval()
        out = []
        with torch.no_grad():
            for i in range(0, len(ex), 512):
                ids, m = pad([s for s, _ in ex[i:i + 512]])
                hs = model.bert(input_ids=ids, attention_mask=m, output_hidden_states=True).hidden_states
                out.append(torch.stack([mean_pool(h, m) for h in hs]))
        return torch.cat(out, 1)  # [layers + 1, n, hidden]

    def logistic(xtr, ytr, xte, yte, wd):
        mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
        xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
        W = torch.zeros(xtr.shape[1], NOVELS, requires_grad=True)
        b = torch.zeros(NOVELS, requires_grad=True)
        opt = torch.optim.LBFGS([W, b], max_iter=300, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = F.cross_entropy(xtr @ W + b, ytr) + wd * (W ** 2).sum()
            loss.backward()
            return loss
        opt.step(closure)
        return ((xte @ W + b).argmax(1) == yte).float().mean().item()

    ytr = torch.tensor([y for _, y in train])
    yte = torch.tensor([y for _, y in test])
    pre = BertForMaskedLM(cfg)
    pre.load_state_dict(ck["state"])
    torch.manual_seed(0)
    for name, model in [("pretrained", pre), ("random init", BertForMaskedLM(cfg))]:
        ftr, fte = features(model, train), features(model, test)
        for layer in range(ftr.shape[0]):
            accs = [logistic(ftr[layer], ytr, fte[layer], yte, wd) for wd in (1e-4, 1e-3, 1e-2)]
            print(f"{name}: layer {layer}: linear-probe accuracy {max(accs):.3f} (best of weight decay 1e-4, 1e-3, 1e-2)", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("pretrain", "finetune", "probe"):
        p = sub.add_parser(name)
        p.add_argument("--split", required=True, help="directory written by `cargo run --example demo_split`")
        p.add_argument("--seq", type=int, default=32)
        if name == "pretrain":
            p.add_argument("--out", required=True)
            p.add_argument("--hidden", type=int, default=64)
            p.add_argument("--layers", type=int, default=2)
            p.add_argument("--ffn", type=int, default=0, help="intermediate size (0 = 4 x hidden)")
            p.add_argument("--heads", type=int, default=2)
            p.add_argument("--batch", type=int, default=64)
            p.add_argument("--steps", type=int, default=1200)
            p.add_argument("--lr", type=float, default=2e-3)
            p.add_argument("--init-std", type=float, default=0.05)
            p.add_argument("--seed", type=int, default=1)
        else:
            p.add_argument("--pt", required=True, help="a checkpoint written by `pretrain`")
            p.add_argument("--words", type=int, default=24, help="words per passage")
            p.add_argument("--per", type=int, default=100, help="labelled passages per novel (0 = all)")
        if name == "finetune":
            p.add_argument("--steps", type=int, default=400)
            p.add_argument("--batch", type=int, default=32)
            p.add_argument("--lrs", default="1e-3")
            p.add_argument("--seeds", default="1")
            p.add_argument("--max-test", type=int, default=1500)
            p.add_argument("--reinit", type=int, default=0, help="re-initialise the top N pretrained layers")
    a = ap.parse_args()
    {"pretrain": pretrain, "finetune": finetune, "probe": probe}[a.cmd](a)


if __name__ == "__main__":
    main()
