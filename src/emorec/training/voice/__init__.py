"""Voice training (torch): config, corpora, cached features, data, members, train, export, evaluate.

``emorec.training.voice.train.run_training`` is the entry point of ``emorec voice train``.
"""
