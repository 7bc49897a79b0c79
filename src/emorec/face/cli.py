"""``emorec face ...`` commands. Inference (``predict``) is registered here; the
training side adds ``train``, ``evaluate`` and ``export`` when it is installed.

Only light imports at module level: ``emorec --help`` must stay fast.
"""
from __future__ import annotations

import typer

from emorec.face.predict_cli import predict

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Face emotion: predict, train, evaluate, export.",
)

app.command("predict")(predict)

# training commands registered below by emorec.training.face_cli
try:
    from emorec.training.face_cli import register
except ImportError:  # inference-only install, or training side not present
    pass
else:
    register(app)
