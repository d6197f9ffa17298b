"""Command-line interface of ssamba."""
