"""ssamba.integrations."""
