"""twin's benchmark suite: model sizes, build, hand-off and solve times, memory, in Parquet."""
