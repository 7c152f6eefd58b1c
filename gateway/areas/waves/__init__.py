"""Pick waves: released orders of a warehouse picked together along the walk, packed by scan and
shipped."""
