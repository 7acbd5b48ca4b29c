"""The read-model database: typed SQLAlchemy 2.0 models and async sessions."""
