"""Detection of objects thrown or falling from buildings: motion candidates → tracks → physics validation."""
