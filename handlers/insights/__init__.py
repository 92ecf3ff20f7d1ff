"""What the consultation team reads: summaries, rankings, themes and representation."""
