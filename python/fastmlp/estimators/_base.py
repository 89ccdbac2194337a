"""What every fastmlp estimator shares: the training hyper-parameters and their checks, building (or
continuing) the native :class:`fastmlp.Network`, the validation split, the fit / partial_fit drivers and
the fitted attributes they leave behind.

A subclass says what its network looks like (:meth:`_network_spec`), checks its own hyper-parameters
(:meth:`_check_model_hyperparameters`) and scores a held-out set (:meth:`_validation_metric`).
"""
from __future__ import annotations

import time

import numpy as np

from ..network import Network
from . import _checks as checks
from ._lbfgs import run_lbfgs
from ._progress import make_progress
from ._sklearn_api import EstimatorAPI
from ._training import EpochMonitor, TrainingOptions, run_epochs, train_epoch

SOLVERS = ("sgd", "momentum", "adam", "gd", "lbfgs")
#: learning_rate=None picks the solver's usual step size (momentum's step is ~10x larger in effect).
DEFAULT_LEARNING_RATES = {"sgd": 0.1, "gd": 0.1, "momentum": 0.01, "adam": 0.001}

TRAINING_PARAMETERS_DOC = """\
    solver : {"adam", "sgd", "momentum", "gd", "lbfgs"}, default="adam"
        "sgd", "momentum" (heavy ball, or Nesterov with ``nesterov=True``) and "adam" take mini-batch
        steps in the native epoch loop; "gd" is full-batch gradient descent (plain sgd with
        ``batch_size = n_samples``, no shuffle); "lbfgs" runs SciPy's L-BFGS-B on the whole training
        set (needs ``pip install fastmlp[lbfgs]``; float64 ``dtype`` suits it best).
    learning_rate : float or None, default=None
        Step size; None means 0.001 for adam, 0.01 for momentum and 0.1 for sgd and gd. Unused by lbfgs.
    batch_size : int, default=200
        Samples per mini-batch, clipped to the number of training samples. Unused by gd and lbfgs.
    max_epochs : int, default=200
        Most passes over the training data (L-BFGS iterations for lbfgs).
    weight_decay : float, default=0.0
        Adds ``(weight_decay/2)·Σ‖W‖²`` over the weight matrices (not the biases) to the loss.
    shuffle : bool, default=True
        Reshuffle the training samples every epoch (mini-batch solvers).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data, score it after every epoch and stop once
        the score has not improved by more than ``tol`` for ``n_iter_no_change`` epochs; at the end the
        parameters of the best-scoring epoch are restored.
    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping (a seeded random split).
    n_iter_no_change : int, default=10
        Epochs without improvement before stopping: of the validation score with early stopping, else
        of the training loss (which must drop by more than ``tol``).
    tol : float, default=1e-4
        The smallest change that counts as an improvement.
    random_state : int, numpy Generator or None, default=None
        Seeds the initial weights, the epoch shuffles and the validation split: the same seed (and
        thread count) gives bit-identical models.
    verbose : bool, default=False
        Show a progress bar (tqdm when installed, else a line per epoch on stdout).
    dtype : {"float32", "float64"}, default="float32"
        Precision of the parameters and of all computation; inputs are converted to it once.
    momentum : float, default=0.9
        Momentum coefficient in [0, 1) for ``solver="momentum"``.
    nesterov : bool, default=False
        Nesterov momentum for ``solver="momentum"``.
    callbacks : list of callables or None, default=None
        Each is called after every epoch of ``fit`` with that epoch's record (a dict, as in
        ``history_``); a truthy return value stops training after that epoch (with early stopping the
        best parameters are still restored). Not called by ``partial_fit``.
    warm_start : bool, default=False
        ``fit`` continues from the current parameters (and optimizer state) instead of starting afresh;
        ``n_iter_``, ``loss_curve_`` and ``history_`` keep growing. Changing architecture-defining
        hyper-parameters in between is an error; changing others restarts the optimizer state.
"""

CLASSIFIER_ATTRIBUTES_DOC = """\
    classes_ : ndarray (n_classes,)
        The sorted class labels; column k of ``predict_proba`` belongs to ``classes_[k]``.
"""

FITTED_ATTRIBUTES_DOC = """\
    n_features_in_ : int
    n_iter_ : int
        Epochs (L-BFGS iterations) run so far.
    loss_curve_ : list of float
        Training loss per epoch: the mean over the epoch's mini-batches of the batch loss, i.e. the
        mean over samples of the data loss plus the penalties.
    history_ : list of dict
        One record per epoch: ``{"epoch", "loss", "validation_score", "seconds"}`` (validation_score is
        None without early stopping).
    validation_scores_ : list of float or None
        The validation score per epoch of the last ``fit``, with early stopping, else None (``history_``
        keeps every epoch's, across warm-started fits).
    best_validation_score_ : float or None
        The best validation score of the last ``fit`` (early stopping), else None.
    best_loss_ : float
        The lowest training loss seen.
    network_ : fastmlp.Network
        The trained network (its ``weights`` / ``biases`` are live views of the parameters).
"""


class BaseNetworkEstimator(EstimatorAPI):
    """Shared fit machinery; not meant to be used directly."""

    #: the fitted attributes (JSON-serialisable) that a saved model keeps besides the parameters
    _saved_attributes = ("n_features_in_", "n_iter_", "loss_curve_", "history_", "validation_scores_",
                         "best_validation_score_", "best_loss_")

    # ------------------------------------------------------------------ subclass hooks
    def _network_spec(self, n_features, n_outputs):
        """Keyword arguments of :class:`Network` for this model (without weight_decay, dtype, seed)."""
        raise NotImplementedError

    def _check_model_hyperparameters(self):
        """Check the subclass's own hyper-parameters (ValueError naming the parameter)."""

    def _validation_metric(self, network, X, T):
        """A score (higher is better) of ``network`` on held-out inputs X and targets T."""
        raise NotImplementedError

    # ------------------------------------------------------------------ hyper-parameters
    def _training_options(self):
        """Check every shared hyper-parameter and resolve the defaults that depend on others."""
        solver = checks.check_choice(self.solver, "solver", SOLVERS)
        if self.learning_rate is None:
            learning_rate = DEFAULT_LEARNING_RATES.get(solver, 0.0)  # lbfgs takes no step size
        else:
            learning_rate = checks.check_real(self.learning_rate, "learning_rate", 0, low_open=True)
        checks.check_real(self.weight_decay, "weight_decay", 0)
        checks.check_dtype(self.dtype)
        checks.check_random_state(self.random_state)
        checks.check_bool(self.warm_start, "warm_start")
        return TrainingOptions(
            solver=solver,
            optimizer={"gd": "sgd", "lbfgs": "sgd"}.get(solver, solver),
            learning_rate=learning_rate,
            batch_size=checks.check_positive_int(self.batch_size, "batch_size"),
            max_epochs=checks.check_positive_int(self.max_epochs, "max_epochs"),
            shuffle=checks.check_bool(self.shuffle, "shuffle") and solver != "gd",
            momentum=checks.check_real(self.momentum, "momentum", 0, 1),
            nesterov=checks.check_bool(self.nesterov, "nesterov"),
            early_stopping=checks.check_bool(self.early_stopping, "early_stopping"),
            validation_fraction=checks.check_fraction(self.validation_fraction, "validation_fraction"),
            n_iter_no_change=checks.check_positive_int(self.n_iter_no_change, "n_iter_no_change"),
            tol=checks.check_real(self.tol, "tol", 0),
            verbose=checks.check_verbose(self.verbose),
            callbacks=checks.check_callbacks(self.callbacks),
        )

    # ------------------------------------------------------------------ the network
    def _full_network_spec(self, n_features, n_outputs):
        spec = dict(self._network_spec(n_features, n_outputs))
        spec.update(weight_decay=float(self.weight_decay), dtype=checks.check_dtype(self.dtype))
        return spec

    @staticmethod
    def _current_spec(network):
        return dict(layer_sizes=network.layer_sizes, hidden_activation=network.hidden_activation,
                    output=network.output, loss=network.loss_name, sparsity_target=network.sparsity_target,
                    sparsity_weight=network.sparsity_weight, tied_weights=network.tied_weights,
                    weight_decay=network.weight_decay, dtype=network.dtype.name)

    def _continued_network(self, n_outputs, restart_optimizer=False):
        """The fitted network, rebuilt around the same parameters and shuffle state, with its optimizer state
        (velocity, Adam moments) started afresh, if non-architectural hyper-parameters (weight decay, sparsity,
        loss, dtype) changed since it was made, or with ``restart_optimizer`` (the optimizer's did)."""
        wanted = self._full_network_spec(self.n_features_in_, n_outputs)
        current = self._current_spec(self.network_)
        for key in ("layer_sizes", "tied_weights", "hidden_activation", "output"):
            if tuple(np.atleast_1d(wanted[key])) != tuple(np.atleast_1d(current[key])):
                raise ValueError(f"cannot continue training: the network's {key} would change from "
                                 f"{current[key]!r} to {wanted[key]!r}; fit with warm_start=False")
        if wanted != current or restart_optimizer:
            state = self.network_.__getstate__()  # what a pickle keeps: no optimizer state
            state["config"], state["params"] = wanted, state["params"].astype(np.dtype(wanted["dtype"]))
            network = Network.__new__(Network)
            network.__setstate__(state)
            self.network_ = network
        return self.network_

    def _start_fresh(self, network, n_features, new_attributes):
        self.network_ = network
        self.n_features_in_ = n_features
        self.n_iter_ = 0
        self.loss_curve_, self.history_ = [], []
        self.validation_scores_ = self.best_validation_score_ = self.best_loss_ = None
        for name, value in new_attributes.items():
            setattr(self, name, value)

    # ------------------------------------------------------------------ drivers
    def _begin_fit(self, X, partial=False, init_from=None, comm=None):
        """Check the hyper-parameters (before the data, so a bad one is reported first) and X.

        Returns (options, continuing, X): ``continuing`` says whether the fitted network is trained
        further (partial_fit, or fit with warm_start) rather than replaced by a new one. ``comm``: the
        MPI communicator of a data-parallel fit (see :mod:`fastmlp.distributed`), else None.
        """
        options = self._training_options()
        self._check_model_hyperparameters()
        if comm is not None:
            if options.solver == "lbfgs":
                raise ValueError("data-parallel training (fit with comm) supports the mini-batch solvers "
                                 "'sgd', 'momentum', 'adam' and 'gd', not solver='lbfgs'")
            if options.early_stopping:
                raise ValueError("data-parallel training (fit with comm) does not support early_stopping")
            options.comm = comm
        if partial and options.solver == "lbfgs":
            raise ValueError("partial_fit needs a mini-batch solver (solver='sgd', 'momentum', 'adam' or "
                             "'gd'), not solver='lbfgs'")
        continuing = (partial or self.warm_start) and init_from is None and self.__sklearn_is_fitted__()
        n_features = self.n_features_in_ if continuing else None
        X = checks.check_X(X, checks.check_dtype(self.dtype), self, n_features=n_features)
        return options, continuing, X

    def _train(self, X, T, n_outputs, options, continuing, *, partial=False, init_from=None,
               new_attributes=None):
        """Fit (``partial=False``) or run one epoch (``partial=True``) on converted X and targets T.

        Continues the fitted network, or builds a new one (seeded from random_state, possibly
        initialised from ``init_from``) and resets the fitted attributes, setting ``new_attributes``
        too. Nothing is changed before every check has passed.
        """
        rng = checks.check_random_state(self.random_state)
        network_seed, split_seed = (int(s) for s in rng.integers(0, 2**63, size=2))
        comm, rank0 = options.comm, True
        if comm is not None:  # one initialisation and shuffle seed for all ranks: rank 0's
            from ..distributed import check_agreement

            # (max_epochs too: a rank that stopped early would leave the others waiting in an allreduce)
            check_agreement(comm, samples=X.shape[0], features=X.shape[1], max_epochs=options.max_epochs)
            network_seed, split_seed = comm.bcast((network_seed, split_seed), root=0)
            rank0 = comm.Get_rank() == 0
        validation = None
        if options.early_stopping and not partial:
            X, T, validation = self._split_validation(X, T, options.validation_fraction, split_seed)
        # the optimizer state belongs to these: any change between fits restarts it (warm_start, partial_fit)
        optimizer = (options.optimizer, options.learning_rate, options.momentum, options.nesterov)
        if continuing:
            network = self._continued_network(n_outputs, getattr(self, "_optimizer", optimizer) != optimizer)
        else:
            network = Network(**self._full_network_spec(X.shape[1], n_outputs), seed=network_seed)
            if init_from is not None:
                self._initialise_from(network, init_from)
            self._start_fresh(network, X.shape[1], new_attributes or {})
        self._optimizer = optimizer

        if partial:  # one epoch: no validation split, no callbacks, no progress display
            monitor = EpochMonitor(self, network, options, run_callbacks=False)
            started = time.perf_counter()
            batch_size = X.shape[0] if options.solver == "gd" else min(options.batch_size, X.shape[0])
            monitor.end_epoch(train_epoch(self, network, X, T, options, batch_size), started)
            return self

        # both describe this fit (history_ keeps every epoch's validation score, None without early stopping)
        self.validation_scores_ = [] if validation is not None else None
        self.best_validation_score_ = None
        progress = make_progress(options.verbose and rank0, type(self).__name__, options.max_epochs)
        monitor = EpochMonitor(self, network, options, validation=validation, progress=progress)
        try:
            if options.solver == "lbfgs":
                run_lbfgs(network, X, T, options, monitor)
            else:
                run_epochs(self, network, X, T, options, monitor)
        finally:
            monitor.finish()
        return self

    @staticmethod
    def _split_validation(X, T, fraction, seed):
        n = X.shape[0]
        n_validation = int(np.ceil(fraction * n))
        if n_validation >= n:
            raise ValueError(f"early_stopping with validation_fraction={fraction} leaves no training samples "
                             f"out of {n}; use more samples, a smaller validation_fraction or "
                             "early_stopping=False")
        order = np.random.default_rng(seed).permutation(n)
        held_out, kept = np.sort(order[:n_validation]), np.sort(order[n_validation:])
        return X[kept], T[kept], (X[held_out], T[held_out])

    def _initialise_from(self, network, source):
        raise ValueError(f"{type(self).__name__} does not support init_from")

    # ------------------------------------------------------------------ shared helpers
    def _checked_input(self, X):
        """X for predict/transform: fitted model, the fitted feature count, the network's dtype."""
        self._check_is_fitted()
        return checks.check_X(X, self.network_.dtype, self, n_features=self.n_features_in_)

    def save(self, path):
        """Save the fitted model to one ``.npz`` file at ``path`` (atomically); see :func:`fastmlp.load`."""
        from ._persistence import save_estimator

        save_estimator(self, path)
