"""`python -m simulator.cli` runs the `lienthong` command."""

from simulator.cli import main

main()
