"""themesift flows and the command line."""
