"""Reading reports back: comparing two runs."""
