"""``slowcheck run``: the main job, every phase against one target, one report."""
