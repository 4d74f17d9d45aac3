"""Parse trial output and annotations into metric series; aggregate them."""
