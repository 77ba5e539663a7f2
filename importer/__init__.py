"""course-sections-importer: spreadsheets of course sections into Nexudus, exactly once."""

__version__ = "0.1.0"
