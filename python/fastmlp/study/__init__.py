"""The classic feature-learning study of the lecture notes, as ``fastmlp study`` runs it.

On MNIST (55,000 training / 5,000 validation / 10,000 test images, raw pixels in [0, 1]; the shipped
sample when the full set is not available): softmax regression on raw pixels, a naive and a sparse
autoencoder (KL penalty, λ = 0.1, α = 0.2), softmax on each autoencoder's features, a one-hidden-layer
network trained by backpropagation, and the comparison of their test accuracy per epoch — with figures,
``results.json`` and ``report.md``. The parts ``parity`` and ``approximation`` come from
:mod:`fastmlp.parity` and :mod:`fastmlp.approximation`.

From Python::

    from fastmlp.study import StudyConfig, run_study
    results = run_study(StudyConfig(sample=True, epochs=5), "study-out", part="features")

matplotlib (``pip install 'fastmlp[study]'``) is needed for the figures; it is imported only here.
"""
from .comparison import MODEL_LABELS, compare
from .config import QUICK, StudyConfig
from .data import StudyData, load_study_data
from .experiments import run_features_part
from .parts import ALL_PARTS, PARTS, PartUnavailable, part_available, resolve_parts
from .progress import Reporter
from .report import RESULT_KEYS
from .runner import run_study

__all__ = ["ALL_PARTS", "MODEL_LABELS", "PARTS", "QUICK", "RESULT_KEYS", "PartUnavailable", "Reporter",
           "StudyConfig", "StudyData", "compare", "load_study_data", "part_available", "resolve_parts",
           "run_features_part", "run_study"]
