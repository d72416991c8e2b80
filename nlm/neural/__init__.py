"""Neural language models written without an autograd library.

- :mod:`.layers`, :mod:`.softmax`: hand-written forward/backward passes
  (Numba kernels in ``*_kernels.py``, dense products through BLAS);
- :mod:`.optim`, :mod:`.init`: optimizers, penalties, clipping, schedules, initializers;
- :mod:`.gradcheck`: finite-difference checks of the gradients;
- :mod:`.trainer`: the training loop shared by every neural model;
- :mod:`.mlp`: Bengio's MLP language model;
- :mod:`.rnn`: the recurrent network language model (LSTM, GRU or Mikolov's Elman cells);
- :mod:`.transformer`: a decoder-only pre-layer-norm Transformer (GPT).

The model classes are imported from their modules on first use (importing this package
imports none of them, nor Numba); ``nlm.load`` imports a model kind's module when it
first reads a file of that kind (:mod:`nlm.catalog`).
"""
from ..catalog import lazy_attributes as _lazy_attributes

__getattr__ = _lazy_attributes(__name__, {"MLPModel": ".mlp", "RNNModel": ".rnn",
                                          "TransformerModel": ".transformer"})

__all__ = ["MLPModel", "RNNModel", "TransformerModel"]
