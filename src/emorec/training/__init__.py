"""Training (needs the ``train`` extra: torch). Never imported by inference code.

The shared kernel (:mod:`config`, :mod:`rundir`, :mod:`folds`, :mod:`trainer`, :mod:`export`) serves
both modalities; :mod:`emorec.training.face` and :mod:`emorec.training.voice` hold what differs.
"""
