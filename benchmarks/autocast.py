"""One training step of our classifier per backbone in fp32, channels_last, bf16 autocast and both.

    .venv/bin/python benchmarks/autocast.py [--threads 2] [--repeats 4] [--size 256]

For MobileNetV2 and ResNet-50 from random init (output stride 32, torchvision's undilated networks),
batch 8 of 256-px crops: the step of benchmarks/train_step.py (fit's step of the classifier with
methods [], on the CPU) in four variants, fp32 NCHW (the baseline), fp32 channels_last, bf16
autocast NCHW, and bf16 autocast with channels_last, as the config keys <network>.channels_last and
<network>.precision select them. benchmarks/training_step.py measures the same switches for the
embedded default's smallnet networks at 128 px. The variants' steps alternate (warm-up first); the
medians are printed, and the last line is `autocast key=value ...` with each variant's median in
seconds (<backbone>_<variant>_s) and its speedup over fp32 (<backbone>_<variant>).
"""

from __future__ import annotations

import argparse
import os

import torch

from train_step import alternating_medians, classifier_batch, our_step

BACKBONES = {"mobilenet_v2": "MobileNetV2", "resnet50": "ResNet-50"}
#: variant -> (channels_last, precision)
VARIANTS = {"fp32": (False, "fp32"), "channels_last": (True, "fp32"), "bf16": (False, "bf16"), "both": (True, "bf16")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    batch = classifier_batch(args.size)
    values = {}
    for backbone, title in BACKBONES.items():
        steps = {variant: our_step(backbone, batch, channels_last=channels_last, precision=precision)
                 for variant, (channels_last, precision) in VARIANTS.items()}
        median = alternating_medians(steps, args.repeats)
        print(f"{title:12s} " + "  ".join(f"{variant} {median[variant]:.3f} s" for variant in VARIANTS)
              + f"  (batch 8 x {args.size} px, median of {args.repeats}, {args.threads} threads)")
        for variant in VARIANTS:
            values[f"{backbone}_{variant}_s"] = f"{median[variant]:.3f}"
        for variant in list(VARIANTS)[1:]:
            values[f"{backbone}_{variant}"] = f"{median['fp32'] / median[variant]:.2f}"
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    print("autocast " + " ".join(f"{key}={value}" for key, value in values.items())
          + f" size={args.size} threads={args.threads}")


if __name__ == "__main__":
    main()
