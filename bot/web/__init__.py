"""The Mini App: pages for reviewers and the office, served by the bot\x27s own process."""
