"""The settings of the feature-learning study (:class:`StudyConfig`) and what ``--quick`` changes."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

__all__ = ["StudyConfig", "QUICK"]

#: What ``--quick`` changes (the rest keeps its defaults): few epochs, for a first look in seconds.
QUICK = {"epochs": 10, "ae_epochs": 10}


@dataclass
class StudyConfig:
    """Settings of the feature-learning study (the ``fastmlp study`` options).

    All training uses mini-batch SGD with (heavy-ball) momentum 0.9 and batches of ``batch_size``; the
    learning rates were tuned on the MNIST validation split (55k/5k) for a 50-epoch run. Both
    autoencoders get the same weight decay, that of the classic sparse-autoencoder recipe (3e-3): among
    0, 1e-4, 3e-4, 1e-3 and 3e-3 it gave the best mean validation accuracy of softmax on the two feature
    sets, and it removes the untrained noise (e.g. on the always-blank border pixels) from the weight
    images. ``ae_weight_decay=0`` is the lecture's objective without it.
    """

    dataset: str = "mnist"            # "mnist" or "fashion-mnist"
    data_dir: str | None = None       # searched first for the data set files
    sample: bool = False              # use the shipped MNIST sample (no search, no network)
    download: bool = True             # download the data set if it is not found
    download_timeout: float = 10.0    # seconds to wait for a mirror
    epochs: int = 50                  # epochs of every classifier (the x axis of the comparison)
    ae_epochs: int | None = None      # epochs of each autoencoder (None: same as epochs)
    hidden: int = 196                 # hidden units of both autoencoders and of the backprop network
    sparsity_weight: float = 0.1      # λ of the sparse autoencoder
    sparsity_target: float = 0.2      # α of the sparse autoencoder
    ae_weight_decay: float = 3e-3     # (w/2)·Σ‖W‖² on both autoencoders' weight matrices
    batch_size: int = 128
    momentum: float = 0.9
    softmax_learning_rate: float = 0.02           # raw-pixel softmax
    feature_softmax_learning_rate: float = 0.1    # softmax on autoencoder features
    ae_learning_rate: float = 0.1                 # both autoencoders
    backprop_learning_rate: float = 0.1           # the one-hidden-layer network
    seed: int = 0
    threads: int | None = None        # None: fastmlp's default (all cores)
    quick: bool = False               # few epochs (see QUICK), unless epochs are given explicitly

    @property
    def autoencoder_epochs(self) -> int:
        return self.epochs if self.ae_epochs is None else self.ae_epochs

    @property
    def snapshot_epochs(self) -> list[int]:
        """Epochs after which the raw softmax weights are drawn: min(20, epochs) and the last."""
        return sorted({min(20, self.epochs), self.epochs})

    def as_dict(self) -> dict:
        out = asdict(self)
        out["autoencoder_epochs"] = self.autoencoder_epochs
        out["softmax_weight_snapshot_epochs"] = self.snapshot_epochs
        out["solver"] = "momentum"
        return out

    @classmethod
    def field_names(cls):
        return [f.name for f in fields(cls)]
