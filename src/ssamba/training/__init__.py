"""ssamba.training."""
