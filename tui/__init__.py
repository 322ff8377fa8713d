"""trainwatch: live supervision of deep-learning training in the terminal."""

__version__ = "0.1.0"
