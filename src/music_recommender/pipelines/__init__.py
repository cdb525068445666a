"""The project's modular pipelines."""
