"""`python -m llamacli` is the same program as the `llamacli` console script."""

from llamacli.cli.app import main

main()
