"""Dataset loaders, one module per corpus, all mapping to ``emorec.labels.EMOTIONS``.

:mod:`emorec.datasets.registry` names every dataset of both modalities (loader, folders, licence);
:mod:`emorec.datasets.splits` holds every split protocol.
"""
