"""Dataset loaders, one module per corpus, all mapping to ``emorec.labels.EMOTIONS``."""
