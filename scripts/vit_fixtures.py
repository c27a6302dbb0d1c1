#!/usr/bin/env python3
"""vit_fixtures.py: writes pretext's ViT / ViT-MAE parity fixtures into assets/fixtures/ (about 0.7 MB in all).

How to run (the venv lives OUTSIDE the repository and is never committed):

    python3 -m venv /work/venv
    /work/venv/bin/pip install torch transformers safetensors numpy pillow   # PyPI's torch is the CUDA build;
                                                                              # it runs on the CPU here
    /work/venv/bin/python scripts/vit_fixtures.py        # rewrites the files listed below

Made with torch 2.15.0+cu132 (run on the CPU), transformers 5.24.0, safetensors 0.8.0, numpy 2.4.6, pillow.
Deterministic: every random draw comes from a torch.Generator with the fixed seeds below.

Numerics: every model runs in float64 (weights drawn in f32, converted exactly), results rounded to f32 when
saved, so each fixture is the exact answer for its f32 weights and inputs up to f32 rounding.

Random weights: HF's init is too bland to catch a swapped or missing term, so every trainable parameter is
redrawn: weight matrices (and the patch-embedding conv, over its [hidden, C*p*p] view) normal(0, 0.5/sqrt(fan_in)),
biases normal(0, 0.1), LayerNorm weights 1 + normal(0, 0.1), LayerNorm biases normal(0, 0.1), cls/mask tokens
normal(0, 0.5). The fixed sin-cos position embeddings (requires_grad=False) keep HF's values: pretext checks
its own sin-cos against them.

Names: transformers 5 holds ViT layers as `vit.layers.N.attention.q_proj`, `mlp.fc1`, ... but saves and loads
the original names (`vit.encoder.layer.N.attention.attention.query`, `intermediate.dense`, ...), except that
it writes the MAE decoder's layers as `decoder.decoder_encoder.layer.N.*` where the Hub's facebook/vit-mae-*
checkpoints have `decoder.decoder_layers.N.*` (it loads both). The fixture directories are save_pretrained's
output as it is; gradients are stored under the original names (`ORIGINAL` below maps them).

Files:
  vit_mae_odd/  a ViTMAEForPreTraining of an unusual shape: RGB 30x30 images in patches of 6 (25 patches of
                108 values), hidden 36, 3 heads of 12, intermediate 70, 2 layers; decoder hidden 20, 5 heads of
                4, intermediate 44, 2 layers; mask_ratio 0.75 (6 visible patches), norm_pix_loss, eps 1e-6;
                config.json, model.safetensors (save_pretrained) and preprocessor_config.json (ViTImageProcessor:
                size 30, mean [0.5, 0.4, 0.3], std [0.2, 0.25, 0.3]).
  vit_mae_odd_expected.safetensors (eval mode, fixed noise)
      pixel_values [3, 3, 30, 30], noise [3, 25]; loss [1]; mask [3, 25]; ids_restore [3, 25] i32;
      logits [3, 25, 108]; last_hidden_state [3, 7, 36] (the encoder's, visible patches + CLS);
      image_loss [3]: forward_loss of each image alone (what `pretext mae reconstruct --json` prints).
      png_noise [2, 25]; png_loss [2], png_mask [2, 25], png_ids_restore [2, 25] i32, png_logits [2, 25, 108]:
      vit_images/rgb{0,1}.png through the model's ViTImageProcessor, each alone with its row of png_noise.
  vit_mae_step.safetensors: one training step of vit_mae_odd (dropout 0): pixel_values [2, 3, 30, 30],
      noise [2, 25], loss [1], grad.<name> for every trainable parameter (original HF names, `vit.` prefix).
  vit_cls_odd/  a ViTForImageClassification: grey 30x30 images in patches of 5 (36 patches), hidden 28, 7 heads
                of 4, intermediate 50, 2 layers, 7 classes named "c0".."c6", eps 1e-12 (HF's default);
                config.json, model.safetensors, preprocessor_config.json (size 30, mean [0.5], std [0.5]).
  vit_cls_odd_expected.safetensors (eval mode)
      pixel_values [3, 1, 30, 30]; logits [3, 7]; last_hidden_state [3, 37, 28].
  vit_images/grey{0,1,2}.png (30x30 L) and rgb{0,1}.png (30x30 RGB): small pictures for the CLI tests;
      png_pixel_values [3, 1, 30, 30], png_logits [3, 7] and png_embedding [3, 28] (the [CLS] row of the last
      hidden state) in vit_cls_odd_expected: the grey PNGs through the classifier's image processor.
Each .safetensors file carries one metadata key, "config" (safetensors orders keys at random).
"""
import json
import math
import os

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from transformers import (ViTConfig, ViTForImageClassification, ViTImageProcessor, ViTMAEConfig,
                          ViTMAEForPreTraining)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "assets", "fixtures")
MAE_DIR = os.path.join(OUT, "vit_mae_odd")
CLS_DIR = os.path.join(OUT, "vit_cls_odd")
IMG_DIR = os.path.join(OUT, "vit_images")
MAE_SEED, CLS_SEED, DATA_SEED = 2024, 4202, 77


def original(name):
    """transformers 5's parameter name -> the name in saved checkpoints (the Hub's original ViT names)."""
    for new, old in (("attention.q_proj", "attention.attention.query"), ("attention.k_proj", "attention.attention.key"),
                     ("attention.v_proj", "attention.attention.value"), ("attention.o_proj", "attention.output.dense"),
                     ("mlp.fc1", "intermediate.dense"), ("mlp.fc2", "output.dense")):
        name = name.replace(new, old)
    if name.startswith("vit.layers."):
        name = "vit.encoder.layer." + name[len("vit.layers."):]
    return name


def randomise(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue  # the fixed sin-cos position embeddings
            if "layernorm" in name.lower() or "norm." in name:
                new = (1 if name.endswith("weight") else 0) + 0.1 * torch.randn(p.shape, generator=g)
            elif name.endswith("bias"):
                new = 0.1 * torch.randn(p.shape, generator=g)
            elif p.dim() == 3:  # cls_token, mask_token, learned position embeddings
                new = 0.5 * torch.randn(p.shape, generator=g)
            else:
                fan_in = p[0].numel()
                new = 0.5 / math.sqrt(fan_in) * torch.randn(p.shape, generator=g)
            p.copy_(new.to(p.dtype))


def set_sincos(model):
    """transformers 5.24 leaves a fresh ViTMAE's fixed position embeddings at zero (its `initialize_weights`
    returns early once the patch embedding is marked initialised, and `_init_weights` zeroes the decoder's):
    set both as `initialize_weights` means to, with transformers' own function and its half swap."""
    from transformers.models.vit_mae.modeling_vit_mae import build_2d_sinusoidal_position_embedding
    grid = model.config.image_size // model.config.patch_size
    with torch.no_grad():
        for p in (model.vit.embeddings.position_embeddings, model.decoder.decoder_pos_embed):
            pe = build_2d_sinusoidal_position_embedding(grid, grid, embed_dim=p.shape[-1], cls_token=True, dtype=torch.float64)
            half = pe.shape[-1] // 2
            pe = torch.cat([pe[..., half:], pe[..., :half]], dim=-1)
            p.copy_(pe.unsqueeze(0).to(p.dtype))


def fixed_positions(model):
    """HF declares both position embeddings `requires_grad=False`; from_pretrained may not keep the flag."""
    model.vit.embeddings.position_embeddings.requires_grad_(False)
    model.decoder.decoder_pos_embed.requires_grad_(False)
    return model


def f32(t):
    return t.detach().to(torch.float32).contiguous()


def keep_only(d, names):
    for n in os.listdir(d):
        if n not in names:
            os.remove(os.path.join(d, n))


def config_json(config):
    return json.dumps(config.to_diff_dict(), sort_keys=True)


def make_mae():
    config = ViTMAEConfig(
        hidden_size=36, num_hidden_layers=2, num_attention_heads=3, intermediate_size=70, hidden_act="gelu",
        image_size=30, patch_size=6, num_channels=3, qkv_bias=True, layer_norm_eps=1e-6,
        decoder_hidden_size=20, decoder_num_hidden_layers=2, decoder_num_attention_heads=5,
        decoder_intermediate_size=44, mask_ratio=0.75, norm_pix_loss=True,
    )
    torch.manual_seed(MAE_SEED)
    model = ViTMAEForPreTraining(config)
    set_sincos(model)
    randomise(model, MAE_SEED)
    os.makedirs(MAE_DIR, exist_ok=True)
    model.save_pretrained(MAE_DIR)
    ViTImageProcessor(size={"height": 30, "width": 30}, image_mean=[0.5, 0.4, 0.3], image_std=[0.2, 0.25, 0.3]).save_pretrained(MAE_DIR)
    keep_only(MAE_DIR, ("config.json", "model.safetensors", "preprocessor_config.json"))
    return config


def mae_expected(config):
    model = ViTMAEForPreTraining.from_pretrained(MAE_DIR, attn_implementation="eager").double().eval()
    assert model.vit.embeddings.position_embeddings.abs().sum() > 0, "sin-cos positions were saved"
    g = torch.Generator().manual_seed(DATA_SEED)
    pixels = torch.randn(3, 3, 30, 30, generator=g).float()
    noise = torch.rand(3, 25, generator=g).float()
    with torch.no_grad():
        out = model(pixel_values=pixels.double(), noise=noise.double())
        enc = model.vit(pixel_values=pixels.double(), noise=noise.double())
        alone = [model(pixel_values=pixels[i:i + 1].double(), noise=noise[i:i + 1].double()).loss for i in range(3)]
        # the RGB PNGs through the model's image processor, each alone, with fixed noise (the CLI test's case)
        proc = ViTImageProcessor.from_pretrained(MAE_DIR)
        pngs = [Image.open(os.path.join(IMG_DIR, f"rgb{i}.png")) for i in range(2)]
        png_pixels = proc(images=pngs, return_tensors="pt")["pixel_values"].double()
        png_noise = torch.rand(2, 25, generator=g).float()
        png = [model(pixel_values=png_pixels[i:i + 1], noise=png_noise[i:i + 1].double()) for i in range(2)]
    tensors = {"pixel_values": pixels, "noise": noise, "loss": f32(out.loss.reshape(1)), "mask": f32(out.mask),
               "ids_restore": out.ids_restore.to(torch.int32).contiguous(), "logits": f32(out.logits),
               "last_hidden_state": f32(enc.last_hidden_state), "image_loss": f32(torch.stack(alone)),
               "png_noise": png_noise, "png_loss": f32(torch.stack([o.loss for o in png])),
               "png_mask": f32(torch.cat([o.mask for o in png])),
               "png_ids_restore": torch.cat([o.ids_restore for o in png]).to(torch.int32).contiguous(),
               "png_logits": f32(torch.cat([o.logits for o in png]))}
    save_file(tensors, os.path.join(OUT, "vit_mae_odd_expected.safetensors"), metadata={"config": config_json(config)})
    return out.loss.item(), {k: list(v.shape) for k, v in tensors.items()}


def mae_step(config):
    model = fixed_positions(ViTMAEForPreTraining.from_pretrained(MAE_DIR, attn_implementation="eager")).double().train()
    g = torch.Generator().manual_seed(DATA_SEED + 1)
    pixels = torch.rand(2, 3, 30, 30, generator=g).float()
    noise = torch.rand(2, 25, generator=g).float()
    out = model(pixel_values=pixels.double(), noise=noise.double())
    out.loss.backward()
    tensors = {"pixel_values": pixels, "noise": noise, "loss": f32(out.loss.reshape(1))}
    for n, p in model.named_parameters():
        if p.requires_grad:
            tensors["grad." + original(n)] = f32(p.grad)
    # every gradient name is a name the saved checkpoint uses (decoder layers under either naming)
    from safetensors import safe_open
    with safe_open(os.path.join(MAE_DIR, "model.safetensors"), "pt") as f:
        saved = {k.replace("decoder.decoder_encoder.layer.", "decoder.decoder_layers.") for k in f.keys()}
    missing = [k for k in tensors if k.startswith("grad.") and k[5:] not in saved]
    assert not missing, missing
    save_file(tensors, os.path.join(OUT, "vit_mae_step.safetensors"), metadata={"config": config_json(config)})
    return out.loss.item(), sum(k.startswith("grad.") for k in tensors)


def make_images():
    os.makedirs(IMG_DIR, exist_ok=True)
    g = torch.Generator().manual_seed(DATA_SEED + 2)
    yy, xx = torch.meshgrid(torch.arange(30.0), torch.arange(30.0), indexing="ij")
    for i in range(3):
        # a blob and noise: something a classifier's logits depend on
        cy, cx = (torch.rand(2, generator=g) * 20 + 5).tolist()
        img = 200 * torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 40) + 40 * torch.rand(30, 30, generator=g)
        Image.fromarray(img.clamp(0, 255).to(torch.uint8).numpy(), "L").save(os.path.join(IMG_DIR, f"grey{i}.png"))
    for i in range(2):
        img = torch.rand(30, 30, 3, generator=g) * 255
        Image.fromarray(img.to(torch.uint8).numpy(), "RGB").save(os.path.join(IMG_DIR, f"rgb{i}.png"))


def make_cls():
    labels = [f"c{i}" for i in range(7)]
    config = ViTConfig(
        hidden_size=28, num_hidden_layers=2, num_attention_heads=7, intermediate_size=50, hidden_act="gelu",
        image_size=30, patch_size=5, num_channels=1, qkv_bias=True,
        id2label={i: l for i, l in enumerate(labels)}, label2id={l: i for i, l in enumerate(labels)},
    )
    torch.manual_seed(CLS_SEED)
    model = ViTForImageClassification(config)
    randomise(model, CLS_SEED)
    os.makedirs(CLS_DIR, exist_ok=True)
    model.save_pretrained(CLS_DIR)
    ViTImageProcessor(size={"height": 30, "width": 30}, image_mean=[0.5], image_std=[0.5]).save_pretrained(CLS_DIR)
    keep_only(CLS_DIR, ("config.json", "model.safetensors", "preprocessor_config.json"))

    model = ViTForImageClassification.from_pretrained(CLS_DIR, attn_implementation="eager").double().eval()
    g = torch.Generator().manual_seed(DATA_SEED + 3)
    pixels = torch.randn(3, 1, 30, 30, generator=g).float()
    proc = ViTImageProcessor.from_pretrained(CLS_DIR)
    pngs = [Image.open(os.path.join(IMG_DIR, f"grey{i}.png")) for i in range(3)]
    png_pixels = proc(images=pngs, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        out = model(pixel_values=pixels.double(), output_hidden_states=True)
        hidden = model.vit(pixel_values=pixels.double()).last_hidden_state
        png_logits = model(pixel_values=png_pixels.double()).logits
        png_cls = model.vit(pixel_values=png_pixels.double()).last_hidden_state[:, 0]
    tensors = {"pixel_values": pixels, "logits": f32(out.logits), "last_hidden_state": f32(hidden),
               "png_pixel_values": f32(png_pixels), "png_logits": f32(png_logits), "png_embedding": f32(png_cls)}
    save_file(tensors, os.path.join(OUT, "vit_cls_odd_expected.safetensors"), metadata={"config": config_json(config)})
    return {k: list(v.shape) for k, v in tensors.items()}


def main():
    torch.use_deterministic_algorithms(True)
    os.makedirs(OUT, exist_ok=True)
    make_images()
    config = make_mae()
    loss, shapes = mae_expected(config)
    print(f"vit_mae_odd_expected: loss {loss:.6f}", shapes)
    loss, n = mae_step(config)
    print(f"vit_mae_step: loss {loss:.6f}, {n} gradients")
    print("vit_cls_odd_expected:", make_cls())
    for name in sorted(os.listdir(OUT)):
        p = os.path.join(OUT, name)
        if name.startswith("vit"):
            size = sum(os.path.getsize(os.path.join(p, f)) for f in os.listdir(p)) if os.path.isdir(p) else os.path.getsize(p)
            print(f"  {name}: {size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
