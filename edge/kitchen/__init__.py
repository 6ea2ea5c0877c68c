"""Kitchen hygiene rules: chef hats in hat-required zones and bins left open, from an object detector's boxes."""
