"""The benchmark cases: sizes, data, units and the FLOP count of each.

A case is pure data (no timing code): the driver (``run.py``) decides which cases to run, every contender
module (``contenders/*.py``) builds the work of one case from it, and the worker (``worker.py``) times it.

FLOP counts ("useful FLOPs") count the multiply-adds of the matrix products only, 2 FLOPs each; bias
additions, activations, the softmax, the losses and the parameter updates are left out (they are
O(B·H), not O(B·H·784)). For an n_in-H-n_out MLP trained on one mini-batch of B samples:

* forward            Z1 = X·W1ᵀ, Z2 = A1·W2ᵀ           2·B·(n_in·H + H·n_out)
* backward, weights  dW2 = δ2ᵀ·A1, dW1 = δ1ᵀ·X          2·B·(n_in·H + H·n_out)
* backward, inputs   dA1 = δ2·W2 (hidden layer only;   2·B·H·n_out
  the input layer's dX is never needed)

so one epoch over n samples costs n·(4·(n_in·H + H·n_out) + 2·H·n_out) FLOPs, whatever the batch size.
The sparse autoencoder n_in-H-n_in has the same three parts with n_out = n_in (its dX of the hidden layer
is 2·n·H·n_in); the KL penalty and weight decay are O(H) and O(parameters) and are not counted.
"""
from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

SEED = 20240609
N_MLP_SAMPLES = 8192
N_CLASSES = 10
N_INPUT = 784
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def mlp_flops(n_samples, n_in, n_hidden, n_out):
    """Useful FLOPs of one training pass of an n_in-H-n_out MLP over n_samples (see the module docstring)."""
    forward = 2 * n_samples * (n_in * n_hidden + n_hidden * n_out)
    backward_weights = forward
    backward_hidden_input = 2 * n_samples * n_hidden * n_out
    return forward + backward_weights + backward_hidden_input


def gemm_flops(m, k, n):
    return 2 * m * k * n


@dataclass(frozen=True)
class Case:
    name: str
    kind: str                 # "gemm" | "mlp_epoch" | "mlp_products" | "sae_grad" | "mnist_epoch" | "xor_steps"
    description: str
    unit: str                 # what the reported value is: "GFLOP/s", "samples/s", "ms", "s", "steps/s"
    higher_is_better: bool
    contenders: tuple         # contenders that can run this case (others are reported "n/a")
    params: dict = field(default_factory=dict)
    warmup: int = 1           # untimed runs inside each worker before the timed ones
    reps: int = 5             # timed repetitions inside each worker (median reported)
    flops: float | None = None  # useful FLOPs of one unit of work (one epoch / one gradient / one GEMM)
    budget: float = 5.0       # seconds: a worker stops its timed runs early past this (≥ 1 run always)

    def value_from_seconds(self, seconds):
        """The reported value of a unit of work that took ``seconds`` (median)."""
        p = self.params
        if self.kind == "gemm":
            return self.flops / seconds / 1e9
        if self.kind in ("mlp_epoch", "mlp_products"):
            return p["n_samples"] / seconds
        if self.kind == "sae_grad":
            return seconds * 1e3
        if self.kind == "mnist_epoch":
            return seconds
        if self.kind == "xor_steps":
            return 1.0 / seconds          # seconds is the time of one step
        raise ValueError(self.kind)


ALL_CONTENDERS = ("fastmlp", "fastmlp_other", "numpy_ref", "torch", "sklearn")


def build_cases(quick=False):
    """The case list: the full suite, or with ``quick`` the small smoke-test cases (same names and kinds
    where they exist; a quick GEMM uses 1024³, the quick MLP epoch 2,048 samples and the quick
    autoencoder 2,000 samples)."""
    cases = []
    g = 1024 if quick else 2048
    cases.append(Case(
        "gemm", "gemm",
        f"SGEMM {g}x{g}x{g} float32 (fastmlp: identity-output Network forward = one GEMM + bias pass)",
        "GFLOP/s", True, ("fastmlp", "fastmlp_other", "numpy_ref", "torch"),
        params=dict(m=g, k=g, n=g), warmup=1, reps=3 if quick else 5, flops=gemm_flops(g, g, g)))
    mlp_sizes = [(32, 64)] if quick else [(32, 64), (128, 256), (256, 1024)]
    for batch, hidden in mlp_sizes:
        n = 2048 if quick else N_MLP_SAMPLES
        cases.append(Case(
            f"mlp_b{batch}_h{hidden}", "mlp_epoch",
            f"1 SGD epoch, 784-{hidden}-10 sigmoid/softmax, batch {batch}, {n} random samples",
            "samples/s", True, ALL_CONTENDERS,
            params=dict(n_samples=n, batch_size=batch, hidden=hidden, learning_rate=0.1),
            warmup=1, reps=2 if quick else (5 if hidden <= 256 else 3),
            flops=mlp_flops(n, N_INPUT, hidden, N_CLASSES)))
    # What the largest MLP case's products reach with the least work around them: the same epoch (same X, labels,
    # batches and shuffle) with its two big products per batch, Z = X·W1ᵀ and the fused W1 −= ρ·δᵀ·X, as an
    # H-class softmax regression: one softmax pass in place of the sigmoid, its derivative and the second layer.
    batch, hidden = mlp_sizes[-1]
    cases.append(Case(
        f"mlp_b{batch}_h{hidden}_gemms", "mlp_products",
        f"mlp_b{batch}_h{hidden}'s two 784x{hidden} products with the least work around them: 1 SGD epoch of a "
        f"784-{hidden} softmax regression on the same data, batch {batch}",
        "samples/s", True, ("fastmlp", "fastmlp_other"),
        params=dict(n_samples=n, batch_size=batch, hidden=hidden, learning_rate=0.1),
        warmup=1, reps=2 if quick else 3, flops=2 * 2 * n * N_INPUT * hidden))
    n_sae = 2000 if quick else 10000
    cases.append(Case(
        "sae_grad", "sae_grad",
        f"full-batch loss+gradient, 784-196-784 sigmoid sparse autoencoder (KL 0.1, β=3, λ=1e-4), {n_sae} samples",
        "ms", False, ("fastmlp", "fastmlp_other", "numpy_ref", "torch"),
        params=dict(n_samples=n_sae, hidden=196, sparsity_target=0.1, sparsity_weight=3.0, weight_decay=1e-4),
        warmup=1, reps=3 if quick else 7, flops=mlp_flops(n_sae, N_INPUT, 196, N_INPUT)))
    if not quick:
        cases.append(Case(
            "mnist_epoch", "mnist_epoch",
            "1 SGD epoch on MNIST train (60,000 images), 784-1024-10 sigmoid/softmax, batch 128",
            "s", False, ALL_CONTENDERS,
            params=dict(batch_size=128, hidden=1024, learning_rate=0.1),
            warmup=1, reps=1, flops=mlp_flops(60000, N_INPUT, 1024, N_CLASSES)))
    cases.append(Case(
        "xor_steps", "xor_steps",
        "XOR 2-2-1 sigmoid, one full-batch (4 samples) SGD step per call: per-call overhead",
        "steps/s", True, ALL_CONTENDERS,
        params=dict(learning_rate=0.5, min_rep_seconds=0.02 if quick else 0.2),
        warmup=1, reps=3 if quick else 5, flops=None))
    if quick:
        cases = [replace(c, budget=2.0) for c in cases]
    return cases


def case_by_name(name, quick=False):
    for case in build_cases(quick):
        if case.name == name:
            return case
    raise KeyError(f"unknown case {name!r} (quick={quick})")


# ------------------------------------------------------------------ data
def mlp_data(n_samples, seed=SEED):
    """Random inputs in [0, 1) (float32, C order) and labels 0..9 (int32), fixed seed."""
    rng = np.random.default_rng(seed)
    X = rng.random((n_samples, N_INPUT), dtype=np.float32)
    y = rng.integers(0, N_CLASSES, n_samples).astype(np.int32)
    return X, y


def sae_data(n_samples, seed=SEED):
    """Random 'patches' in [0.1, 0.9] (the UFLDL normalisation range), float32."""
    rng = np.random.default_rng(seed)
    return (0.1 + 0.8 * rng.random((n_samples, N_INPUT), dtype=np.float32)).astype(np.float32)


def xor_data():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0], dtype=np.int32)
    return X, y


def gemm_data(m, k, seed=SEED):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, k), dtype=np.float32)


MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")


def find_mnist(data_dir):
    """The directory holding the MNIST training files (``data_dir`` or ``data_dir/mnist``), or None."""
    if data_dir is None:
        return None
    base = Path(data_dir)
    for candidate in (base, base / "mnist"):
        if all((candidate / f).is_file() for f in MNIST_FILES):
            return candidate
    return None


def read_idx_gz(path):
    """A minimal IDX reader (big-endian header: magic 0x00000803/0x00000801, then the dimensions)."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, type_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or type_code != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise ValueError(f"{path}: expected {shape} elements, found {arr.size}")
    return arr.reshape(shape)


def load_mnist_train(data_dir):
    """(X float32 (60000, 784) in [0, 1], y int32) from the IDX gz files in data_dir."""
    d = find_mnist(data_dir)
    if d is None:
        raise FileNotFoundError(f"MNIST training files {MNIST_FILES} not found in {data_dir}")
    images = read_idx_gz(d / MNIST_FILES[0])
    labels = read_idx_gz(d / MNIST_FILES[1])
    X = np.ascontiguousarray(images.reshape(images.shape[0], -1), dtype=np.float32) / np.float32(255)
    return X, labels.astype(np.int32)


def epoch_data(case, data_dir):
    """(X, y) of an MLP-epoch case: the seeded random set, or the MNIST training images."""
    if case.kind in ("mlp_epoch", "mlp_products"):
        return mlp_data(case.params["n_samples"])
    return load_mnist_train(data_dir)
