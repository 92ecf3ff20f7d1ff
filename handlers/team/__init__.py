"""The consultation team's side of Chorus: reports, moderation, merges, themes, exports
and charts through bot commands, for the Telegram users listed under `team` in
config.yaml. Anyone else who sends these words gets the unknown-command reply."""
