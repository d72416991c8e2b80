"""The documentation tells the truth about the code: links resolve, the README's set-up
commands are the ones CI runs, the CLI reference is current, and what the docs say
about defaults is what the code does."""
from __future__ import annotations

import inspect

from nlm.neural.rnn import RNNModel, RNNNetwork


def test_rnn_cell_defaults_agree_with_fit():
    """Every constructor defaults to the cell `fit` (and so `nlm train`) trains."""
    cell = inspect.signature(RNNModel.fit).parameters["cell"].default
    assert cell == "lstm"
    for fn in (RNNModel.__init__, RNNNetwork.__init__, RNNNetwork.param_shapes,
               RNNNetwork.init_params):
        assert inspect.signature(fn).parameters["cell"].default == cell, fn.__qualname__
