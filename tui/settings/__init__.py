"""YAML documents and the user's config file."""
