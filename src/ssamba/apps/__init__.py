"""Applications built on the library end to end (the `ssamba quickstart` experiment)."""
