"""Generate the daily top-50 charts per country (song_rankings.parquet) from the song properties.

    python generate_song_rankings.py --output song_rankings.parquet              # CI size, 30 days
    python generate_song_rankings.py --days 306 --output song_rankings_full.parquet  # ~1.1M rows

The generator itself lives in the kit's package (``jukebox/rankings.py``) so tests and the lab
can use it; see README.md beside this file for how the charts are made.
"""

from jukebox.rankings import main

if __name__ == "__main__":
    main()
