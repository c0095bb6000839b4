"""``python -m fewner.cli`` (and ``accelerate launch -m fewner.cli``) run the fewner CLI."""

from fewner.cli import main

main()
