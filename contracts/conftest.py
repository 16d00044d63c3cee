"""The contract suite's pytest entry: options and the shared target come from slowcheck's plugin."""
