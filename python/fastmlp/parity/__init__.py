"""Depth versus width on N-bit parity: exact hand-built networks and their sizes (:mod:`.networks`, where the
constructions are explained), and learning parity by backprop (:mod:`.learning`)."""
from .learning import (LEARNING_ARCHITECTURES, format_learning_table, learn_parity, parity_learning_study,
                       plot_parity_parameters, run_parity_part)
from .networks import (all_bipolar_inputs, bipolar_parity, chain_parameter_formula, chain_parity_network,
                       count_parameters, depth, format_parity_table, memorizer_parameter_formula,
                       memorizing_parity_network, parity_table, tree_parameter_formula, tree_parity_network,
                       xor_network)

__all__ = ["bipolar_parity", "all_bipolar_inputs", "xor_network", "chain_parity_network", "tree_parity_network",
           "memorizing_parity_network", "count_parameters", "depth", "chain_parameter_formula",
           "tree_parameter_formula", "memorizer_parameter_formula", "parity_table", "format_parity_table",
           "LEARNING_ARCHITECTURES", "learn_parity", "parity_learning_study", "format_learning_table",
           "plot_parity_parameters", "run_parity_part"]
