"""PyTorch on the CPU, eager mode, float32, ``torch.set_num_threads(threads)`` (same as fastmlp's)."""
from __future__ import annotations

import re

from .. import cases as C
from . import Work

NAME = "torch"


def describe():
    import torch
    found = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    blas = found.group(1) if found else "unknown"
    return {"version": torch.__version__, "blas": blas, "threads": torch.get_num_threads(),
            "mkldnn": bool(torch.backends.mkldnn.is_available())}



def _mlp(torch, hidden, seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(C.N_INPUT, hidden), torch.nn.Sigmoid(),
                               torch.nn.Linear(hidden, C.N_CLASSES))


def _epoch_fn(torch, model, X, y, batch_size, lr, seed):
    """One epoch of plain mini-batch SGD in the usual PyTorch idiom: a fresh permutation, gather the
    batch, forward, cross-entropy (log-softmax fused), backward, optimizer step; the mean loss is
    accumulated like fastmlp's train_epoch returns it."""
    F = torch.nn.functional
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.0)
    gen = torch.Generator().manual_seed(seed)
    n = X.shape[0]

    def epoch():
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = perm[start:start + batch_size]
            xb, yb = X[idx], y[idx]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        return total / n
    return epoch


def setup(case, threads, data_dir=None):
    import torch
    torch.set_num_threads(threads)
    F = torch.nn.functional
    p = case.params
    if case.kind == "gemm":
        X = torch.from_numpy(C.gemm_data(p["m"], p["k"]))
        W = torch.from_numpy(C.gemm_data(p["n"], p["k"], seed=C.SEED + 1))
        b = torch.zeros(p["n"])

        def run():
            with torch.no_grad():
                return F.linear(X, W, b)          # GEMM + bias, like the fastmlp forward
        return Work(run)
    if case.kind in ("mlp_epoch", "mnist_epoch"):
        Xn, yn = C.epoch_data(case, data_dir)
        X, y = torch.from_numpy(Xn), torch.from_numpy(yn.astype("int64"))
        model = _mlp(torch, p["hidden"], C.SEED)
        run = _epoch_fn(torch, model, X, y, p["batch_size"], p["learning_rate"], C.SEED)
        warm = None
        if case.kind == "mnist_epoch":
            warm = _epoch_fn(torch, model, X[:4096], y[:4096], p["batch_size"], p["learning_rate"], C.SEED)
        return Work(run, warm)
    if case.kind == "sae_grad":
        X = torch.from_numpy(C.sae_data(p["n_samples"]))
        n, h = X.shape[0], p["hidden"]
        rho, beta, lam = p["sparsity_target"], p["sparsity_weight"], p["weight_decay"]
        torch.manual_seed(C.SEED)
        enc, dec = torch.nn.Linear(C.N_INPUT, h), torch.nn.Linear(h, C.N_INPUT)
        params = list(enc.parameters()) + list(dec.parameters())

        def run():
            for q in params:
                q.grad = None
            H = torch.sigmoid(enc(X))
            Yhat = torch.sigmoid(dec(H))
            data = 0.5 * (Yhat - X).pow(2).sum() / n
            a_hat = H.mean(dim=0).clamp(1e-6, 1 - 1e-6)
            kl = (rho * torch.log(rho / a_hat) + (1 - rho) * torch.log((1 - rho) / (1 - a_hat))).sum()
            decay = 0.5 * lam * (enc.weight.pow(2).sum() + dec.weight.pow(2).sum())
            loss = data + beta * kl + decay
            loss.backward()
            return loss.item()
        return Work(run)
    if case.kind == "xor_steps":
        Xn, yn = C.xor_data()
        X = torch.from_numpy(Xn)
        Y = torch.from_numpy(yn.astype("float32")).reshape(4, 1)
        torch.manual_seed(C.SEED)
        model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Sigmoid(), torch.nn.Linear(2, 1))
        opt = torch.optim.SGD(model.parameters(), lr=p["learning_rate"], momentum=0.0)

        def run(n_steps):
            for _ in range(n_steps):
                opt.zero_grad(set_to_none=True)
                loss = F.binary_cross_entropy_with_logits(model(X), Y)   # sigmoid output + BCE, fused
                loss.backward()
                opt.step()
        return Work(run)
    raise ValueError(f"torch cannot run case kind {case.kind!r}")
