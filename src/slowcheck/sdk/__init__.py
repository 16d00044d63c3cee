"""The SDK compatibility matrix: official OpenAI SDK versions, each in its own cached environment."""
