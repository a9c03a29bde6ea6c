"""One module per command: click options and a call into the library, no math."""
