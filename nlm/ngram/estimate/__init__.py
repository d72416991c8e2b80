"""In-memory n-gram estimation, one module per stage in data-flow order (as KenLM's
``lm/builder``), after counting (:mod:`nlm.ngram.counts`):

    adjust.py       Kneser-Ney adjusted counts, counts of counts
    discount.py     discounts from counts of counts
    methods.py      each smoothing method, once: its masses, its discounts, its options
                    (also used by the streaming estimator, :mod:`nlm.ngram.external`)
    interpolate.py  masses -> ARPA-form tables of a BackoffModel

Estimation is kept apart from querying (:mod:`nlm.ngram.backoff`) and from the file
formats (:mod:`nlm.ngram.arpa`, :mod:`nlm.ngram.binary`).
"""
