#!/usr/bin/env python3
"""The pretraining step of BM_ContrastiveTrainStep (bench/vision_bench.cpp) in plain PyTorch:
convnet (32, 3 blocks) -> head 128->256->128 on 2N views of 28x28, normalised scores / 0.5,
InfoNCE (cross-entropy over the 2N-2 negatives), backward, Adam. Prints ms per step.

    python3 bench/pytorch_contrastive_step.py --threads 2 --batch 256
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def convnet(width=32, blocks=3):
    layers, channels = [], 1
    for b in range(blocks):
        out = width << b
        layers += [nn.Conv2d(channels, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(), nn.MaxPool2d(2)]
        channels = out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    n = args.batch
    encoder = convnet()
    head = nn.Sequential(nn.Linear(128, 256), nn.ReLU(), nn.Linear(256, 128))
    params = list(encoder.parameters()) + list(head.parameters())
    adam = torch.optim.Adam(params, lr=1e-3, weight_decay=1e-6)
    views = torch.rand(2 * n, 1, 28, 28)
    idx = torch.arange(2 * n)
    positive_of = (idx + n) % (2 * n)
    mask = torch.ones(2 * n, 2 * n, dtype=torch.bool)
    mask[idx, idx] = False
    mask[idx, positive_of] = False

    def step():
        z = F.normalize(head(encoder(views)), dim=1)
        s = z @ z.t() / 0.5
        pos = s.gather(1, positive_of.unsqueeze(1)).squeeze(1)
        neg = s.masked_select(mask).view(2 * n, 2 * n - 2)
        logits = torch.cat([pos.unsqueeze(1), neg], 1)
        loss = (torch.logsumexp(logits, 1) - logits[:, 0]).mean()
        adam.zero_grad()
        loss.backward()
        adam.step()
        return loss.item()

    for _ in range(3):
        step()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    ms = statistics.median(times) * 1e3
    print(f"pytorch {torch.__version__} threads {args.threads} batch {n}: {ms:.1f} ms/step (median of {args.steps}), "
          f"{n / (ms / 1e3):.0f} images/s")


if __name__ == "__main__":
    main()
