"""Files of cases (D1–D4): their bytes outside Temporal, encrypted, and what is made of them (clean images, thumbnails)."""
