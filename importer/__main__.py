"""`python -m importer` runs the `sections` command."""

from importer.cli import main

if __name__ == "__main__":
    main()
