"""N-gram estimation out of core: any corpus under a memory budget (``--memory``).

See :mod:`.pipeline` for the stages; :mod:`.budget` chooses between this and the
in-memory estimators and sizes the pieces; :mod:`.distributed` runs the
per-partition stages on a Dask cluster; :mod:`.train` is the door ``nlm.train`` opens.
(Only a package face: it imports nothing, so that reading the scale options of
:mod:`.budget` does not load the pipeline.)
"""
