"""``python -m emorec.cli`` is ``emorec``."""
from emorec.cli import main

main()
