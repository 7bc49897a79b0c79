"""Face training (torch): architectures, augmentation, the training pipeline, export and evaluation.

``emorec.training.face.train.run_training`` is the entry point of ``emorec face train``.
"""
