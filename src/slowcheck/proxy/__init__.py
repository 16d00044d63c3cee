"""slowcheck proxy: a validating, recording proxy in front of the API, and offline judging of recordings."""
