"""Storage: SQLAlchemy models and the file store for attachments."""
