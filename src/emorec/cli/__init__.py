"""The ``emorec`` command line: every command lives in this package.

- ``emorec face ...`` (:mod:`emorec.cli.face`), ``emorec voice ...`` (:mod:`emorec.cli.voice`),
  ``emorec serve`` (:mod:`emorec.cli.serve`), ``emorec report`` (:mod:`emorec.cli.report`),
  ``emorec models list`` (:mod:`emorec.cli.models`), ``emorec version``.
- Commands parse options, call library code (pipelines, recognisers, training) and render.
- A missing optional dependency is one line naming the install command, exit 2
  (:func:`emorec.cli.extras.require_extra`), checked before any work is done.

Heavy imports happen inside commands, so ``emorec --help`` starts fast.
Errors that come from user input (EmorecError) print one line and exit 2.
"""
from __future__ import annotations

import sys

import typer

from emorec import __version__
from emorec.errors import EmorecError

app = typer.Typer(
    name="emorec",
    help="Emotion recognition from faces and speech.\n\nExample: emorec face predict photo.jpg --format json",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    # Every command module imports only typer and emorec's light modules: no guard needed.
    from emorec.cli.face import app as face_app
    from emorec.cli.models import app as models_app
    from emorec.cli.report import report
    from emorec.cli.serve import serve
    from emorec.cli.voice import app as voice_app

    app.add_typer(face_app, name="face", help="Face emotion: predict, train, evaluate, export.")
    app.add_typer(voice_app, name="voice", help="Voice emotion: predict, train, evaluate, export.")
    app.command("serve")(serve)
    app.command("report")(report)
    app.add_typer(models_app, name="models", help="The packaged models and their cards.")


@app.command("version")
def version() -> None:
    """Print the emorec version."""
    typer.echo(__version__)


_register()


def _click_classes(name: str) -> tuple[type, ...]:
    """Exception class ``name`` from click and from typer's vendored copy (typer >= 0.24 has its
    own, distinct classes, spread over ``typer._click.exceptions`` and ``typer.exceptions``)."""
    import importlib

    found = []
    for module in ("click.exceptions", "click", "typer._click.exceptions", "typer._click", "typer.exceptions", "typer"):
        try:
            cls = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if isinstance(cls, type) and cls not in found:
            found.append(cls)
    return tuple(found)


def _exit_for_click_error(exc: Exception) -> None:
    """Usage errors print click's short message (not a traceback) and exit with its code."""
    if isinstance(exc, _click_classes("Exit")):
        code = getattr(exc, "exit_code", 0)
        if code == 130:  # typer turns Ctrl-C into Exit(130)
            typer.echo("interrupted", err=True)
        sys.exit(code)
    if isinstance(exc, _click_classes("ClickException")):
        exc.show()
        sys.exit(exc.exit_code)
    if isinstance(exc, _click_classes("Abort")):
        typer.echo("aborted", err=True)
        sys.exit(1)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning user errors into one-line messages."""
    try:
        rv = app(args=argv, standalone_mode=False)
    except EmorecError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # click usage errors and the like
        _exit_for_click_error(exc)
        raise
    if isinstance(rv, int) and rv:
        sys.exit(rv)


if __name__ == "__main__":
    main()
