"""Credit grading: policies as data, the grading engine, supervision measures and draws."""
