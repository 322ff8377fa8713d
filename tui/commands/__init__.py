"""The CLI's verbs."""
